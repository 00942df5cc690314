//! The checks a parsed schema must pass before it serves: names, column constraints, keys,
//! permissions against roles and scopes, conflict settings, and hook files.

use super::model::{ColumnType, ConflictDetection, ConflictStrategy, NamedScope, Scope};
use super::{Diagnostic, Permissions, Schema, TableDef, values};
use std::collections::HashSet;
use std::path::Path;

/// Columns that failed to parse, by table. They are already reported; the other checks treat
/// them as present so that one typo does not cascade into "not a column" errors.
pub type UnparsedColumns = std::collections::HashMap<String, std::collections::HashSet<String>>;

/// Longest table or column name: PostgreSQL truncates identifiers beyond 63 bytes.
const MAX_NAME_LENGTH: usize = 63;

/// Appends every mistake in `schema` to `diagnostics`, and parses the tables' permissions.
pub fn check(
    schema: &mut Schema,
    plugins_dir: &Path,
    unparsed: &UnparsedColumns,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (name, role) in &schema.roles {
        let located = || Diagnostic::in_file(&role.file, "").role(name);
        if !is_role_name(name) {
            diagnostics.push(Diagnostic {
                message:
                    "a role name may hold letters, digits, `_` and `-`, and starts with a letter"
                        .into(),
                ..located()
            });
        }
        if let Scope::Claim(rule) = &role.spec.scope
            && (rule.claim.is_empty() || rule.column.is_empty())
        {
            diagnostics.push(Diagnostic {
                message: "a scope rule needs both `column` and `claim`".into(),
                ..located()
            });
        }
    }
    let role_names: Vec<String> = schema.roles.keys().cloned().collect();
    let none = HashSet::new();
    for table in schema.tables.values_mut() {
        let unparsed = unparsed.get(&table.name).unwrap_or(&none);
        check_table(table, unparsed, diagnostics);
        table.permissions = parse_permissions(table, &role_names, diagnostics);
        check_scopes(table, &schema.roles, unparsed, diagnostics);
        check_hooks(table, plugins_dir, diagnostics);
        if let Some(role) = &table.spec.hook_role
            && !role_names.contains(role)
        {
            diagnostics.push(
                Diagnostic::in_file(
                    &table.file,
                    format!("`hook_role` names role `{role}`, which is not declared"),
                )
                .table(&table.name)
                .suggest(role, role_names.iter().map(String::as_str))
                .help_if_none(format!("declare it with `[roles.{role}]` and a `scope`")),
            );
        }
    }
    super::parents::check(schema, diagnostics);
}

fn check_table(table: &TableDef, unparsed: &HashSet<String>, diagnostics: &mut Vec<Diagnostic>) {
    let spec = &table.spec;
    let at = || Diagnostic::in_file(&table.file, "").table(&table.name);
    let say = |diagnostic: Diagnostic, message: String| Diagnostic {
        message,
        ..diagnostic
    };

    if let Err(reason) = check_name(&table.name) {
        diagnostics.push(say(at(), format!("invalid table name: {reason}")));
    }
    if spec.columns.is_empty() && unparsed.is_empty() {
        diagnostics.push(say(at(), "the table has no columns".into()));
    }
    let column_names: Vec<&str> = spec.columns.keys().map(String::as_str).collect();

    for (name, column) in &spec.columns {
        let at_column = || at().column(name);
        if let Err(reason) = check_name(name) {
            diagnostics.push(say(at_column(), format!("invalid column name: {reason}")));
        }
        let numeric = column.kind.is_numeric();
        if !numeric && (column.min.is_some() || column.max.is_some()) {
            diagnostics.push(say(
                at_column(),
                format!(
                    "`min` and `max` apply to integer, real and decimal columns, not {}",
                    column.kind.name()
                ),
            ));
        }
        if let (Some(min), Some(max)) = (column.min, column.max)
            && min > max
        {
            diagnostics.push(say(
                at_column(),
                format!("`min` ({min}) is greater than `max` ({max})"),
            ));
        }
        if column.kind != ColumnType::Text
            && (column.min_length.is_some() || column.max_length.is_some())
        {
            diagnostics.push(say(
                at_column(),
                format!(
                    "`min_length` and `max_length` apply to text columns, not {}",
                    column.kind.name()
                ),
            ));
        }
        if let (Some(min), Some(max)) = (column.min_length, column.max_length)
            && min > max
        {
            diagnostics.push(say(
                at_column(),
                format!("`min_length` ({min}) is greater than `max_length` ({max})"),
            ));
        }
        match (column.kind, column.values.is_empty()) {
            (ColumnType::Enum, true) => diagnostics.push(
                say(at_column(), "an enum column needs its `values`".into())
                    .help("e.g. `values = [\"open\", \"closed\"]`"),
            ),
            (ColumnType::Enum, false) => {
                let mut seen = std::collections::HashSet::new();
                for value in &column.values {
                    if !seen.insert(value) {
                        diagnostics.push(say(
                            at_column(),
                            format!("enum value \"{value}\" is listed twice"),
                        ));
                    }
                }
            }
            (other, false) => diagnostics.push(
                say(
                    at_column(),
                    format!("`values` applies to enum columns, not {}", other.name()),
                )
                .help("set `type = \"enum\"`"),
            ),
            _ => {}
        }
        // A json column takes them for files uploaded under one of its keys (`COLUMN.KEY`).
        if !matches!(column.kind, ColumnType::File | ColumnType::Json)
            && (!column.accept.is_empty() || column.max_size.is_some())
        {
            diagnostics.push(say(
                at_column(),
                format!(
                    "`accept` and `max_size` apply to file and json columns, not {}",
                    column.kind.name()
                ),
            ));
        }
        for media_type in &column.accept {
            let valid = media_type
                .split_once('/')
                .is_some_and(|(kind, sub)| !kind.is_empty() && !sub.is_empty());
            if !valid {
                diagnostics.push(
                    say(
                        at_column(),
                        format!("`{media_type}` in `accept` is not a media type"),
                    )
                    .help("e.g. \"image/png\" or \"image/*\""),
                );
            }
        }
        if column.max_size == Some(0) {
            diagnostics.push(say(
                at_column(),
                "`max_size` must be at least 1 byte".into(),
            ));
        }
        if let Some(default) = &column.default
            && let Err(reason) = values::check_value(column, default)
        {
            diagnostics.push(say(
                at_column(),
                format!("the default {default} does not fit the column: {reason}"),
            ));
        }
    }

    match spec.columns.get(&spec.primary_key) {
        None if unparsed.contains(&spec.primary_key) => {}
        None => diagnostics.push(
            say(
                at(),
                format!("primary key `{}` is not a column", spec.primary_key),
            )
            .suggest(&spec.primary_key, column_names.iter().copied()),
        ),
        Some(column) => {
            if !matches!(
                column.kind,
                ColumnType::Text | ColumnType::Integer | ColumnType::Uuid
            ) {
                diagnostics.push(say(
                    at().column(&spec.primary_key),
                    format!(
                        "a primary key must be text, integer or uuid, not {}",
                        column.kind.name()
                    ),
                ));
            }
            if column.nullable {
                diagnostics.push(say(
                    at().column(&spec.primary_key),
                    "a primary key cannot be nullable".into(),
                ));
            }
            if spec.key_assigned_by == crate::schema::model::KeyAssignedBy::Server
                && !matches!(column.kind, ColumnType::Integer | ColumnType::Uuid)
            {
                diagnostics.push(
                    say(
                        at().column(&spec.primary_key),
                        format!(
                            "key_assigned_by = \"server\" needs an integer or uuid primary key, \
                             not {}",
                            column.kind.name()
                        ),
                    )
                    .help("make the key `integer` (a sequence) or `uuid`, or let clients send it"),
                );
            }
        }
    }

    for (key, named) in [
        ("branch_column", &spec.branch_column),
        ("owner_column", &spec.owner_column),
        ("assignees_column", &spec.assignees_column),
        ("status_column", &spec.status_column),
    ] {
        if let Some(name) = named
            && !spec.columns.contains_key(name)
            && !unparsed.contains(name)
        {
            diagnostics.push(
                say(
                    at(),
                    format!("`{key}` names `{name}`, which is not a column"),
                )
                .suggest(name, column_names.iter().copied()),
            );
        }
    }

    if let Some(name) = &spec.assignees_column {
        if spec.owner_column.is_none() {
            diagnostics.push(
                say(at(), "`assignees_column` needs `owner_column`".into())
                    .help("the assignees reach the row besides its owner; name the owner column"),
            );
        }
        if let Some(column) = spec.columns.get(name)
            && column.kind != ColumnType::Json
        {
            diagnostics.push(say(
                at().column(name),
                format!(
                    "`assignees_column` needs a json column (an array of subjects), not {}",
                    column.kind.name()
                ),
            ));
        }
    }
    if let Some(name) = &spec.status_column
        && let Some(column) = spec.columns.get(name)
        && matches!(column.kind, ColumnType::Json | ColumnType::File)
    {
        diagnostics.push(say(
            at().column(name),
            format!(
                "`status_column` counts rows per value; a {} column has no values to count by",
                column.kind.name()
            ),
        ));
    }
    for (name, column) in &spec.columns {
        if column.merge && column.kind != ColumnType::Json {
            diagnostics.push(say(
                at().column(name),
                format!(
                    "`merge` merges JSON objects key by key; it needs a json column, not {}",
                    column.kind.name()
                ),
            ));
        }
    }

    let needs_updated_at = spec.conflict_detection == ConflictDetection::UpdatedAt
        || spec.conflict == ConflictStrategy::LastWriteWins
        || spec.stamp_updated_at;
    if needs_updated_at {
        let why = if spec.conflict == ConflictStrategy::LastWriteWins {
            "`conflict = \"last_write_wins\"`"
        } else if spec.stamp_updated_at {
            "`stamp_updated_at = true`"
        } else {
            "`conflict_detection = \"updated_at\"`"
        };
        match spec.columns.get(&spec.updated_at_column) {
            None if unparsed.contains(&spec.updated_at_column) => {}
            None => diagnostics.push(
                say(
                    at(),
                    format!("{why} needs a timestamp column `{}`, which the table does not have", spec.updated_at_column),
                )
                .suggest(&spec.updated_at_column, column_names.iter().copied())
                .help_if_none(format!(
                    "add `{} = {{ type = \"timestamp\" }}` to the columns, or name another with `updated_at_column`",
                    spec.updated_at_column
                )),
            ),
            Some(column) if column.kind != ColumnType::Timestamp => diagnostics.push(say(
                at().column(&spec.updated_at_column),
                format!("{why} needs a timestamp column, not {}", column.kind.name()),
            )),
            Some(_) => {}
        }
    }
}

fn parse_permissions(
    table: &TableDef,
    roles: &[String],
    diagnostics: &mut Vec<Diagnostic>,
) -> indexmap::IndexMap<String, Permissions> {
    let mut parsed = indexmap::IndexMap::new();
    for (role, letters) in &table.spec.permissions {
        let at = Diagnostic::in_file(&table.file, "").table(&table.name);
        if !roles.contains(role) {
            diagnostics.push(
                Diagnostic {
                    message: format!("`permissions` names role `{role}`, which is not declared"),
                    ..at
                }
                .suggest(role, roles.iter().map(String::as_str))
                .help_if_none(format!("declare it with `[roles.{role}]` and a `scope`")),
            );
            continue;
        }
        match Permissions::parse(letters) {
            Ok(permissions) => {
                parsed.insert(role.clone(), permissions);
            }
            Err(reason) => diagnostics.push(Diagnostic {
                message: format!("permissions of role `{role}`: {reason}"),
                ..at
            }),
        }
    }
    parsed
}

/// A scoped role may only use a table that has the column its scope compares, unless the table
/// is declared `shared`: otherwise it would see every branch's rows.
fn check_scopes(
    table: &TableDef,
    roles: &indexmap::IndexMap<String, super::RoleDef>,
    unparsed: &HashSet<String>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let spec = &table.spec;
    // A table scoped through a parent is checked against its chain's root (`parents::check`).
    if spec.shared || spec.scope_from.is_some() {
        return;
    }
    for (role, permissions) in &table.permissions {
        if !permissions.any() {
            continue;
        }
        let missing = match roles.get(role).map(|role| &role.spec.scope) {
            Some(Scope::Named(NamedScope::Branch)) if spec.branch_column.is_none() => {
                Some(("branch", "`branch_column`".to_string()))
            }
            Some(Scope::Named(NamedScope::Owner)) if spec.owner_column.is_none() => {
                Some(("owner", "`owner_column`".to_string()))
            }
            Some(Scope::Claim(rule))
                if !spec.columns.contains_key(&rule.column) && !unparsed.contains(&rule.column) =>
            {
                Some(("claim rule", format!("column `{}`", rule.column)))
            }
            _ => None,
        };
        if let Some((scope, needed)) = missing {
            diagnostics.push(
                Diagnostic::in_file(&table.file, format!(
                    "role `{role}` is scoped by {scope} but the table has no {needed} to scope its rows by"
                ))
                .table(&table.name)
                .help(format!(
                    "declare {needed} on the table, or `shared = true` if every permitted role may use all its rows"
                )),
            );
        }
    }
}

fn check_hooks(table: &TableDef, plugins_dir: &Path, diagnostics: &mut Vec<Diagnostic>) {
    for hook in &table.spec.hooks {
        let at = Diagnostic::in_file(&table.file, "").table(&table.name);
        if super::is_webhook(hook) {
            if let Err(error) = url::Url::parse(hook) {
                diagnostics.push(Diagnostic {
                    message: format!("webhook `{hook}` is not a URL: {error}"),
                    ..at
                });
            }
            continue;
        }
        if check_name(hook).is_err() {
            diagnostics.push(Diagnostic {
                message: format!(
                    "hook name `{hook}` must be lowercase letters, digits and `_` (a script \
                     plugins/NAME.rhai), or an http(s) URL (a webhook)"
                ),
                ..at
            });
            continue;
        }
        let script = plugins_dir.join(format!("{hook}.rhai"));
        if !script.is_file() {
            let available = available_hooks(plugins_dir);
            diagnostics.push(
                Diagnostic {
                    message: format!(
                        "hook `{hook}` has no script: {} does not exist",
                        script.display()
                    ),
                    ..at
                }
                .suggest(hook, available.iter().map(String::as_str))
                .help_if_none(format!(
                    "create {} or remove `{hook}` from `hooks`",
                    script.display()
                )),
            );
        }
    }
}

fn available_hooks(plugins_dir: &Path) -> Vec<String> {
    std::fs::read_dir(plugins_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let path = entry.path();
                    (path.extension()? == "rhai")
                        .then(|| path.file_stem()?.to_str().map(String::from))?
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Table, column and hook names: lowercase ASCII, so they are the same identifier in SQL, URLs
/// and file names on every platform.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !starts_well
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(format!(
            "`{name}` must start with a lowercase letter and hold only lowercase letters, digits and `_`"
        ));
    }
    if name.len() > MAX_NAME_LENGTH {
        return Err(format!(
            "`{name}` is longer than {MAX_NAME_LENGTH} characters"
        ));
    }
    if name.starts_with("syncgate_") {
        return Err(format!(
            "`{name}` uses a prefix reserved for syncgate's own tables and columns"
        ));
    }
    Ok(())
}

fn is_role_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
