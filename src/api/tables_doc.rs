//! The per-table part of the OpenAPI document, built from the schema at run time: each table's
//! row schema (`<table>_Row`, its own columns, types, bounds and required fields), a partial row
//! for writes (`<table>_Patch`), and the push and changes bodies that carry them. `AnyRow`, used
//! by the generic endpoints, is one of the row schemas.

use super::context::intern;
use super::row_doc::{column_schema, reference, register_any_row, row_schema};
use super::sync_doc::{ChangesPageDoc, OpResultDoc, PushOutcomeDoc, PushRequestDoc};
use crate::schema::model::{Column, ColumnType};
use crate::schema::{Schema, TableDef};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde_json::{Value, json};

pub fn patch_schema(table: &str) -> String {
    format!("{table}_Patch")
}

pub fn push_request_schema(table: &str) -> String {
    format!("{table}_PushRequest")
}

pub fn push_outcome_schema(table: &str) -> String {
    format!("{table}_PushOutcome")
}

pub fn changes_page_schema(table: &str) -> String {
    format!("{table}_ChangesPage")
}

/// Registers every per-table schema.
pub fn register_tables(registry: &mut Registry, schema: &Schema) {
    register_any_row(registry);
    PushOutcomeDoc::register(registry);
    ChangesPageDoc::register(registry);
    PushRequestDoc::register(registry);
    for table in schema.tables.values() {
        let name = &table.name;
        registry.schemas.insert(patch_schema(name), patch(table));
        derive(
            registry,
            "PushOperation",
            format!("{name}_Operation"),
            &[("data", reference(patch_schema(name)))],
            &["table"],
        );
        derive(
            registry,
            "PushRequest",
            push_request_schema(name),
            &[("operations", reference(format!("{name}_Operation")))],
            &[],
        );
        derive(
            registry,
            &OpResultDoc::name(),
            format!("{name}_OpResult"),
            &[("row", reference(row_schema(name)))],
            &[],
        );
        let op_result = reference(format!("{name}_OpResult"));
        derive(
            registry,
            &PushOutcomeDoc::name(),
            push_outcome_schema(name),
            &[
                ("applied", op_result.clone()),
                ("conflicts", op_result.clone()),
                ("errors", op_result),
            ],
            &[],
        );
        derive(
            registry,
            "Change",
            format!("{name}_Change"),
            &[("row", reference(row_schema(name)))],
            &[],
        );
        derive(
            registry,
            &ChangesPageDoc::name(),
            changes_page_schema(name),
            &[("changes", reference(format!("{name}_Change")))],
            &[],
        );
        add_examples(registry, table);
    }
    if let Some(table) = schema.tables.values().next() {
        add_generic_examples(registry, table);
    }
}

/// Examples of the generic push, pull and changes bodies, from the first table's columns.
fn add_generic_examples(registry: &mut Registry, table: &TableDef) {
    let name = &table.name;
    let copy = |registry: &Registry, schema: String| {
        registry
            .schemas
            .get(&schema)
            .and_then(|s| s.example.clone())
            .unwrap_or(Value::Null)
    };
    let mut request = copy(registry, push_request_schema(name));
    for operation in request["operations"].as_array_mut().into_iter().flatten() {
        operation["table"] = json!(name);
    }
    let outcome = copy(registry, push_outcome_schema(name));
    let page = copy(registry, changes_page_schema(name));
    let pull = json!({"success": true, "data": {name: [page["changes"][0]["row"].clone()]},
                      "limit": 1000, "cursor": "42", "has_more": false});
    for (schema, example) in [
        ("PushRequest", request),
        ("PushOutcome", outcome),
        ("ChangesPage", page),
        ("PullResponse", pull),
        (
            "PullRequest",
            json!({"tables": [name], "limit": 1000, "cursor": ""}),
        ),
    ] {
        if let Some(schema) = registry.schemas.get_mut(schema) {
            schema.example = Some(example);
        }
    }
}

/// Example push request, push answer and changes page for `table`, built from its columns.
fn add_examples(registry: &mut Registry, table: &TableDef) {
    let name = &table.name;
    let pk = &table.spec.primary_key;
    let row: serde_json::Map<String, Value> = table
        .spec
        .columns
        .iter()
        .map(|(column, spec)| (column.clone(), example_value(spec)))
        .collect();
    let key = row.get(pk).cloned().unwrap_or(Value::Null);
    let mut stored = row.clone();
    stored.insert("_version".into(), json!(1));
    let examples = [
        (
            push_request_schema(name),
            json!({"device_id": "till-3", "operations": [
                {"op_id": "till-3:17", "action": "insert", "data": row},
                {"op_id": "till-3:18", "action": "delete", "data": {pk: key}, "base_version": 1}
            ]}),
        ),
        (
            push_outcome_schema(name),
            json!({"success": true, "applied": [
                {"index": 0, "op_id": "till-3:17", "table": name, "key": key, "status": "applied",
                 "version": 1, "deleted": false, "row": stored, "replayed": false}
            ], "conflicts": [], "errors": [], "cursor": "42"}),
        ),
        (
            changes_page_schema(name),
            json!({"changes": [{"seq": 42, "table": name, "key": key, "version": 1,
                                "deleted": false, "row": stored}],
                   "cursor": "42", "has_more": false}),
        ),
    ];
    for (schema, example) in examples {
        if let Some(schema) = registry.schemas.get_mut(&schema) {
            schema.example = Some(example);
        }
    }
}

/// A value that fits the column, for examples.
fn example_value(column: &Column) -> Value {
    if let Some(default) = &column.default {
        return default.clone();
    }
    let number = column.min.unwrap_or(1.0).max(1.0);
    match column.kind {
        ColumnType::Text => json!("text"),
        ColumnType::Integer => json!(number as i64),
        ColumnType::Real => json!(number),
        ColumnType::Decimal => json!(format!("{number:.2}")),
        ColumnType::Boolean => json!(true),
        ColumnType::Timestamp => json!("2026-11-22T10:00:00Z"),
        ColumnType::Date => json!("2026-11-22"),
        ColumnType::Uuid => json!("5f0c8e4e-7d7a-4b43-9a57-1b1d2f7c9e10"),
        ColumnType::Json => json!({"note": "any JSON"}),
        ColumnType::Enum => json!(column.values.first().cloned().unwrap_or_default()),
        ColumnType::File => json!("9b2d3c1e-0f4a-4c5b-8e6d-7a8b9c0d1e2f"),
    }
}

/// Registers `name` as a copy of the registered schema `base` whose properties `replace`
/// point elsewhere (arrays keep being arrays) and without the properties `remove`.
fn derive(
    registry: &mut Registry,
    base: &str,
    name: String,
    replace: &[(&str, MetaSchemaRef)],
    remove: &[&str],
) {
    let Some(mut schema) = registry.schemas.get(base).cloned() else {
        return;
    };
    schema.rust_typename = None;
    // Generators name models by title: each derived schema has its own.
    schema.title = Some(name.clone());
    for (property, target) in replace {
        if let Some((_, existing)) = schema.properties.iter_mut().find(|(p, _)| p == property) {
            *existing = retarget(existing, target.clone());
        }
    }
    schema.properties.retain(|(p, _)| !remove.contains(p));
    schema.required.retain(|p| !remove.contains(p));
    registry.schemas.insert(name, schema);
}

fn retarget(existing: &MetaSchemaRef, target: MetaSchemaRef) -> MetaSchemaRef {
    match existing {
        MetaSchemaRef::Inline(inline) if inline.items.is_some() => {
            let mut array = (**inline).clone();
            array.items = Some(Box::new(target));
            MetaSchemaRef::Inline(Box::new(array))
        }
        _ => target,
    }
}

/// Columns sent in a write: any subset, the primary key always.
fn patch(table: &TableDef) -> MetaSchema {
    let pk = intern(&table.spec.primary_key);
    let mut schema = MetaSchema::new("object");
    let assigned = table.key_assigned_by_server();
    let key_rule = if assigned {
        format!(
            "`{pk}` is required but in an `insert` or `upsert`, where the gateway assigns it when \
             left out (the answer's `key` says which; a later operation of the batch may use it \
             as `{{\"key_of\": \"OP_ID\"}}`)"
        )
    } else {
        format!("`{pk}` is always required")
    };
    schema.description = Some(intern(&format!(
        "Columns of a `{}` row to write. {key_rule}; `insert` needs every column \
         that is neither nullable nor defaulted; `update` only the columns that change. A column \
         left out is left unchanged: defaults apply only when a row is created, so this schema \
         declares none.",
        table.name
    )));
    for (name, column) in &table.spec.columns {
        let mut column_schema = column_schema(column);
        column_schema.default = None;
        schema
            .properties
            .push((intern(name), MetaSchemaRef::Inline(Box::new(column_schema))));
    }
    let version = MetaSchema {
        description: Some("The version this change is based on (same as `base_version`)."),
        ..MetaSchema::new_with_format("integer", "int64")
    };
    schema
        .properties
        .push(("_version", MetaSchemaRef::Inline(Box::new(version))));
    if !assigned {
        schema.required.push(pk);
    }
    schema
}
