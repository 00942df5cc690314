//! What the sync core answers. These types also describe themselves for the OpenAPI document
//! (poem-openapi `Object`); that is their only tie to the HTTP layer.

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A row of any table: its columns and `_version`. In the OpenAPI document it is one of the
/// tables' row schemas (`<table>_Row`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
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
        crate::api::tables_doc::register_any_row(registry);
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Action {
    /// Create a row; a live row with the same key is a conflict.
    Insert,
    /// Change the sent columns of an existing row.
    Update,
    /// Create the row, or change it when it exists.
    Upsert,
    /// Delete the row (it stays as a versioned tombstone in the feed).
    Delete,
}

impl Action {
    /// The name clients send, and hooks see in `op.action`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Insert => "insert",
            Action::Update => "update",
            Action::Upsert => "upsert",
            Action::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Resolve {
    /// Apply the client's row even if it conflicts (the caller needs update permission).
    UseLocal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum OpStatus {
    Applied,
    Conflict,
    Error,
}

/// One operation of a push.
#[derive(Debug, Clone)]
pub struct Operation {
    pub op_id: Option<String>,
    pub table: String,
    pub action: Action,
    pub data: Map<String, Value>,
    pub base_version: Option<i64>,
    pub resolve: Option<Resolve>,
}

/// How a conflict ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
pub struct ConflictInfo {
    /// The table's strategy (or `use_local` when the operation forced its row).
    pub strategy: String,
    /// `server_kept` (nothing applied) or `queued` (kept for manual resolution).
    pub resolution: String,
    /// Why it was a conflict.
    pub reason: String,
    /// Id in `GET /sync/conflicts` when queued.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_id: Option<i64>,
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
pub struct OpError {
    pub code: String,
    pub message: String,
    /// The column at fault, when there is one.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The result of one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
pub struct OpResult {
    /// Position of the operation in the request.
    pub index: u32,
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_id: Option<String>,
    pub table: String,
    /// The row's primary key value.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    pub status: OpStatus,
    /// Applied: the row's new version. Conflict: the server's version.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Whether the row (applied or the server's) is a deletion tombstone.
    #[serde(default)]
    pub deleted: bool,
    /// Applied: the stored row. Conflict: the server's row.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<RowObject>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<ConflictInfo>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OpError>,
    /// True when this is the stored result of an earlier request with the same `op_id`.
    #[serde(default)]
    pub replayed: bool,
}

/// The answer to a push: every operation's result, split by outcome.
#[derive(Debug, Clone, Serialize, Object)]
pub struct PushOutcome {
    /// True when no operation failed (conflicts are not failures).
    pub success: bool,
    pub applied: Vec<OpResult>,
    pub conflicts: Vec<OpResult>,
    pub errors: Vec<OpResult>,
    /// The changes feed position after this push.
    pub cursor: String,
}

/// One entry of the changes feed: the current state of a row (or its tombstone).
#[derive(Debug, Clone, Serialize, Object)]
pub struct Change {
    /// Feed position of the row's latest change.
    pub seq: i64,
    pub table: String,
    pub key: Value,
    pub version: i64,
    pub deleted: bool,
    /// The row; for a tombstone, the row as it was when deleted.
    pub row: RowObject,
}

#[derive(Debug, Clone, Serialize, Object)]
pub struct ChangesPage {
    pub changes: Vec<Change>,
    /// Pass it as `cursor` to continue after these changes.
    pub cursor: String,
    /// More changes are waiting: ask again at once.
    pub has_more: bool,
}
