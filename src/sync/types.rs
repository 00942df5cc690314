//! What the sync core takes and answers, as plain serde data. The API layer reads requests into
//! these types and writes answers from them; it also describes their shapes in the OpenAPI
//! document (`api::sync_doc`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A row as clients see it: its columns and `_version`.
pub type Row = Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Insert,
    Update,
    Upsert,
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

/// How an operation asks for its conflicts to be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolve {
    /// Apply the client's row even if it conflicts.
    UseLocal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    Applied,
    Conflict,
    Error,
}

/// One operation of a push (read from a request by `api::push_body`).
#[derive(Debug, Clone)]
pub struct Operation {
    pub op_id: Option<String>,
    pub table: String,
    pub action: Action,
    pub data: Map<String, Value>,
    pub base_version: Option<i64>,
    pub resolve: Option<Resolve>,
}

/// What became of a conflicting write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictResolution {
    /// Nothing applied: the server's row stays.
    ServerKept,
    /// Kept in the conflict queue for a manual resolution.
    Queued,
    /// The client's row was stored: `client_wins`, a newer write under `last_write_wins`, or
    /// `resolve: use_local`.
    ClientApplied,
    /// The client's fields over the server's row, under `merge`.
    Merged,
    /// The row the `on_conflict` hook returned.
    HookApplied,
}

/// How a conflict ended: reported with every conflicting write, applied or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictInfo {
    /// The table's strategy.
    pub strategy: String,
    pub resolution: ConflictResolution,
    pub reason: String,
    /// Id in the conflict queue, when queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_id: Option<i64>,
    /// The server's row when the conflict was found (with its `_version`).
    #[serde(default)]
    pub server_row: Map<String, Value>,
    /// The row the client's write would have stored.
    #[serde(default)]
    pub client_row: Map<String, Value>,
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The result of one operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpResult {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op_id: Option<String>,
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    pub status: OpStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    pub deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<Row>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<ConflictInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<OpError>,
    pub replayed: bool,
}

/// The answer to a push: every operation's result, split by outcome.
#[derive(Debug, Clone, Serialize)]
pub struct PushOutcome {
    pub success: bool,
    pub applied: Vec<OpResult>,
    pub conflicts: Vec<OpResult>,
    pub errors: Vec<OpResult>,
    pub cursor: String,
}

/// A page of the changes feed, as it is answered.
#[derive(Debug, Clone, Serialize)]
pub struct ChangesPage<'a> {
    /// Each change (`{seq, table, key, version, deleted, row}`, documented as `Change`) as
    /// JSON, built once per page (see `sync::feed`).
    pub changes: Vec<&'a serde_json::value::RawValue>,
    pub cursor: String,
    pub has_more: bool,
}

/// A [`ChangesPage`] encoded: the answer's JSON body, built once per page read and the same
/// bytes for every request that shared the read (thousands of long-polls woken by one commit).
#[derive(Debug, Clone)]
pub struct ChangesAnswer {
    pub json: bytes::Bytes,
    /// How many changes the page holds.
    pub count: usize,
}
