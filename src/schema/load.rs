//! Reading the schema directory: every `*.toml` and `*.json` file (but the committed JSON Schema),
//! each role, table and column parsed on its own so that one mistake does not hide the next.

use super::model::{Column, Role, SchemaFile, Table};
use super::validate::{self, UnparsedColumns};
use super::{Diagnostic, Diagnostics, JSON_SCHEMA_FILE, RoleDef, Schema, TableDef};
use crate::key_positions::Position;
use indexmap::IndexMap;
use serde_json::Value;

use std::path::{Path, PathBuf};

/// Loads, merges and checks every schema file in `dir`; hooks are looked up in `plugins_dir`.
/// Returns every mistake at once.
pub fn load_dir(dir: &Path, plugins_dir: &Path) -> Result<Schema, Diagnostics> {
    let mut diagnostics = Vec::new();
    let files = schema_files(dir)?;
    let mut schema = Schema {
        files: files.clone(),
        ..Schema::default()
    };
    let mut unparsed = UnparsedColumns::new();
    for file in &files {
        if let Some(parsed) = parse_file(file, &mut diagnostics, &mut unparsed) {
            merge(&mut schema, file, parsed, &mut diagnostics);
        }
    }
    if schema.tables.is_empty() && diagnostics.is_empty() {
        diagnostics.push(
            Diagnostic::in_file(dir, "the schema declares no tables")
                .help("add a `[tables.NAME]` section with its `columns`"),
        );
    }
    validate::check(&mut schema, plugins_dir, &unparsed, &mut diagnostics);
    if diagnostics.is_empty() {
        Ok(schema)
    } else {
        Err(Diagnostics(diagnostics).locate())
    }
}

fn schema_files(dir: &Path) -> Result<Vec<PathBuf>, Diagnostics> {
    let entries = std::fs::read_dir(dir).map_err(|error| {
        Diagnostic::in_file(dir, format!("cannot read the schema directory: {error}"))
            .help("set `paths.schemas` in the config to the directory that holds your schema files")
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .filter(|path| {
            let is_schema_format = matches!(
                path.extension().and_then(|ext| ext.to_str()),
                Some("toml" | "json")
            );
            is_schema_format && path.file_name().and_then(|n| n.to_str()) != Some(JSON_SCHEMA_FILE)
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Diagnostic::in_file(
            dir,
            "no schema files (*.toml or *.json) in this directory",
        )
        .help("add a schema file, e.g. the `schemas/shop.toml` shipped with syncgate")
        .into());
    }
    Ok(files)
}

/// Parses one file, reporting each role, table and column that does not parse, and returns what
/// did parse.
fn parse_file(
    file: &Path,
    diagnostics: &mut Vec<Diagnostic>,
    unparsed: &mut UnparsedColumns,
) -> Option<SchemaFile> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) => {
            diagnostics.push(Diagnostic::in_file(
                file,
                format!("cannot read the file: {error}"),
            ));
            return None;
        }
    };
    let document = match parse_document(file, &text) {
        Ok(document) => document,
        Err((message, at)) => {
            let diagnostic = Diagnostic::in_file(file, message);
            diagnostics.push(match at {
                Some(at) => diagnostic.at(at),
                None => diagnostic,
            });
            return None;
        }
    };
    let Value::Object(mut top) = document else {
        diagnostics.push(Diagnostic::in_file(file, "the file must hold an object"));
        return None;
    };

    let mut parsed = SchemaFile::default();
    for key in top.keys() {
        if !matches!(key.as_str(), "$schema" | "roles" | "tables") {
            diagnostics.push(
                Diagnostic::in_file(file, format!("unknown top-level key `{key}`"))
                    .suggest(key, ["roles", "tables", "$schema"]),
            );
        }
    }
    if let Some(roles) = top.remove("roles") {
        for (name, value) in entries(file, "roles", roles, diagnostics) {
            match serde_json::from_value::<Role>(value) {
                Ok(role) => {
                    parsed.roles.insert(name, role);
                }
                Err(error) => diagnostics.push(serde_diagnostic(
                    Diagnostic::in_file(file, "").role(&name),
                    &error,
                )),
            }
        }
    }
    if let Some(tables) = top.remove("tables") {
        for (name, value) in entries(file, "tables", tables, diagnostics) {
            if let Some(table) = parse_table(file, &name, value, diagnostics, unparsed) {
                parsed.tables.insert(name, table);
            }
        }
    }
    Some(parsed)
}

/// The file's content, or why it does not parse and where.
fn parse_document(file: &Path, text: &str) -> Result<Value, (String, Option<Position>)> {
    if file.extension().and_then(|ext| ext.to_str()) == Some("json") {
        serde_json::from_str(text).map_err(|error| {
            let at = (error.line() > 0).then(|| Position {
                line: error.line(),
                column: error.column(),
            });
            // serde_json's message ends with " at line L column C", which `at` now says.
            let message = error.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            (format!("not valid JSON: {message}"), at)
        })
    } else {
        let table: toml::Table = toml::from_str(text).map_err(|error| {
            // The start of the span, not the parser's own line (which for a line left
            // unfinished is the next one).
            let at = error
                .span()
                .map(|span| Position::of_offset(text, span.start));
            (
                format!("not valid TOML: {}", error.message().trim_end()),
                at,
            )
        })?;
        serde_json::to_value(table)
            .map_err(|error| (format!("cannot read the TOML: {error}"), None))
    }
}

/// The entries of the object under `key`, reporting a value of another shape.
fn entries(
    file: &Path,
    key: &str,
    value: Value,
    diagnostics: &mut Vec<Diagnostic>,
) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => {
            diagnostics.push(Diagnostic::in_file(
                file,
                format!("`{key}` must be a table of named entries"),
            ));
            serde_json::Map::new()
        }
    }
}

fn parse_table(
    file: &Path,
    name: &str,
    value: Value,
    diagnostics: &mut Vec<Diagnostic>,
    unparsed: &mut UnparsedColumns,
) -> Option<Table> {
    let Value::Object(mut fields) = value else {
        diagnostics
            .push(Diagnostic::in_file(file, "a table must be a table of settings").table(name));
        return None;
    };
    let mut columns = IndexMap::new();
    match fields.remove("columns") {
        None => {
            diagnostics.push(
                Diagnostic::in_file(file, "missing `columns`").table(name).help(format!(
                    "declare them under `[tables.{name}.columns]`, e.g. `id = {{ type = \"uuid\" }}`"
                )),
            );
            return None;
        }
        Some(value) => {
            for (column, spec) in entries(file, "columns", value, diagnostics) {
                match serde_json::from_value::<Column>(spec) {
                    Ok(parsed) => {
                        columns.insert(column, parsed);
                    }
                    Err(error) => {
                        unparsed
                            .entry(name.to_string())
                            .or_default()
                            .insert(column.clone());
                        diagnostics.push(serde_diagnostic(
                            Diagnostic::in_file(file, "").table(name).column(&column),
                            &error,
                        ));
                    }
                }
            }
        }
    }
    fields.insert("columns".into(), Value::Object(Default::default()));
    match serde_json::from_value::<Table>(Value::Object(fields)) {
        Ok(mut table) => {
            table.columns = columns;
            Some(table)
        }
        Err(error) => {
            diagnostics.push(serde_diagnostic(
                Diagnostic::in_file(file, "").table(name),
                &error,
            ));
            None
        }
    }
}

/// Turns a serde message into a diagnostic, adding "did you mean" for an unknown key or value.
fn serde_diagnostic(located: Diagnostic, error: &serde_json::Error) -> Diagnostic {
    let message = error.to_string();
    // serde writes "unknown field `nulable`, expected one of `type`, `nullable`, …".
    let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let unknown = message.starts_with("unknown field") || message.starts_with("unknown variant");
    let diagnostic = Diagnostic {
        message: message.clone(),
        ..located
    };
    match quoted.split_first() {
        Some((typed, candidates)) if unknown => {
            diagnostic.suggest(typed, candidates.iter().copied())
        }
        _ => diagnostic,
    }
}

fn merge(schema: &mut Schema, file: &Path, parsed: SchemaFile, diagnostics: &mut Vec<Diagnostic>) {
    for (name, role) in parsed.roles {
        if let Some(first) = schema.roles.get(&name) {
            diagnostics.push(
                Diagnostic::in_file(file, "declared twice")
                    .role(&name)
                    .help(format!(
                        "it is already declared in {}",
                        first.file.display()
                    )),
            );
            continue;
        }
        schema.roles.insert(
            name,
            RoleDef {
                file: file.to_path_buf(),
                spec: role,
            },
        );
    }
    for (name, table) in parsed.tables {
        if let Some(first) = schema.tables.get(&name) {
            diagnostics.push(
                Diagnostic::in_file(file, "declared twice")
                    .table(&name)
                    .help(format!(
                        "it is already declared in {}",
                        first.file.display()
                    )),
            );
            continue;
        }
        schema.tables.insert(
            name.clone(),
            TableDef {
                name,
                file: file.to_path_buf(),
                spec: table,
                permissions: IndexMap::new(),
            },
        );
    }
}
