//! The rows in the OpenAPI document: `AnyRow` (one of the tables' row schemas), each table's
//! `<table>_Row` with its own columns, types and bounds, and the schema of one column, shared by
//! the generic documents (`sync_doc`) and the per-table ones (`tables_doc`).

use super::context::{self, intern};
use crate::schema::TableDef;
use crate::schema::model::{Column, ColumnType};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A row of any table: its columns and `_version`. In the OpenAPI document it is one of the
/// tables' row schemas (`<table>_Row`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowObject(pub Map<String, Value>);

/// Name of the schema `RowObject` refers to; registered by the tables API from the schema.
pub const ANY_ROW_SCHEMA: &str = "AnyRow";

impl Type for RowObject {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        ANY_ROW_SCHEMA.into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(ANY_ROW_SCHEMA.into())
    }

    fn register(registry: &mut Registry) {
        register_any_row(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for RowObject {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::Object(map)) => Ok(RowObject(map)),
            Some(_) => Err(ParseError::custom("a row must be a JSON object")),
            None => Err(ParseError::expected_input()),
        }
    }
}

impl ToJSON for RowObject {
    fn to_json(&self) -> Option<Value> {
        Some(Value::Object(self.0.clone()))
    }
}

/// Helper for documentation: an object with free-form properties.
pub fn free_form_object(description: &'static str) -> MetaSchema {
    MetaSchema {
        description: Some(description),
        additional_properties: Some(Box::new(MetaSchemaRef::Inline(Box::new(MetaSchema::ANY)))),
        ..MetaSchema::new("object")
    }
}

pub fn row_schema(table: &str) -> String {
    format!("{table}_Row")
}

pub fn reference(name: String) -> MetaSchemaRef {
    MetaSchemaRef::Reference(name)
}

/// Registers `AnyRow` and the row schema of every table of the schema being built.
pub fn register_any_row(registry: &mut Registry) {
    if registry.schemas.contains_key(ANY_ROW_SCHEMA) {
        return;
    }
    let Some(context) = context::current() else {
        registry.schemas.insert(
            ANY_ROW_SCHEMA.into(),
            free_form_object("A row of a synced table: its columns and `_version`."),
        );
        return;
    };
    for table in context.schema.tables.values() {
        registry.schemas.insert(row_schema(&table.name), row(table));
    }
    let any = MetaSchema {
        description: Some("A row of one of the synced tables: its columns and `_version`."),
        one_of: context
            .schema
            .tables
            .keys()
            .map(|name| reference(row_schema(name)))
            .collect(),
        ..MetaSchema::new("object")
    };
    registry.schemas.insert(ANY_ROW_SCHEMA.into(), any);
}

/// A whole row as the server returns it: every column and `_version`.
fn row(table: &TableDef) -> MetaSchema {
    let mut schema = MetaSchema::new("object");
    schema.description = table.spec.description.as_deref().map(intern);
    for (name, column) in &table.spec.columns {
        let name = intern(name);
        schema
            .properties
            .push((name, MetaSchemaRef::Inline(Box::new(column_schema(column)))));
        schema.required.push(name);
    }
    let version = MetaSchema {
        description: Some("Server-assigned row version, bumped by every write."),
        read_only: true,
        ..MetaSchema::new_with_format("integer", "int64")
    };
    schema
        .properties
        .push(("_version", MetaSchemaRef::Inline(Box::new(version))));
    schema.required.push("_version");
    schema
}

pub fn column_schema(column: &Column) -> MetaSchema {
    let mut schema = match column.kind {
        ColumnType::Text => MetaSchema::new("string"),
        ColumnType::Integer => MetaSchema::new_with_format("integer", "int64"),
        ColumnType::Real => MetaSchema::new_with_format("number", "double"),
        ColumnType::Decimal => MetaSchema::new_with_format("string", "decimal"),
        ColumnType::Boolean => MetaSchema::new("boolean"),
        ColumnType::Timestamp => MetaSchema::new_with_format("string", "date-time"),
        ColumnType::Date => MetaSchema::new_with_format("string", "date"),
        ColumnType::Uuid => MetaSchema::new_with_format("string", "uuid"),
        ColumnType::Json => MetaSchema::ANY,
        ColumnType::Enum => MetaSchema::new("string"),
        ColumnType::File => MetaSchema::new_with_format("string", "file-reference"),
    };
    if matches!(column.kind, ColumnType::Integer | ColumnType::Real) {
        schema.minimum = column.min;
        schema.maximum = column.max;
    }
    schema.min_length = column.min_length.map(|n| n as usize);
    schema.max_length = column.max_length.map(|n| n as usize);
    schema.enum_items = column
        .values
        .iter()
        .map(|v| serde_json::Value::String(v.clone()))
        .collect();
    schema.nullable = column.nullable;
    schema.default = column.default.clone();
    let mut description = column.description.clone().unwrap_or_default();
    if column.kind == ColumnType::Decimal {
        let bounds = match (column.min, column.max) {
            (Some(min), Some(max)) => format!(", from {min} to {max}"),
            (Some(min), None) => format!(", at least {min}"),
            (None, Some(max)) => format!(", at most {max}"),
            (None, None) => String::new(),
        };
        description =
            format!("{description} Exact decimal as a string (a number is accepted){bounds}.")
                .trim()
                .to_string();
    }
    if column.kind == ColumnType::File {
        description = format!("{description} Reference to an uploaded file.")
            .trim()
            .to_string();
    }
    if !description.is_empty() {
        schema.description = Some(intern(&description));
    }
    schema
}
