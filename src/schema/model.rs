//! The sync schema as users write it in `schemas/*.toml` or `*.json`.
//!
//! These types both parse the files and generate `schemas/sync-schema.json` (`syncgate
//! json-schema`), so the editor schema can never disagree with the parser. Doc comments become the
//! descriptions editors show.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// One schema file: roles and tables. Several files in `schemas/` are merged; a role or a table
/// declared in two files is an error.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "syncgate sync schema")]
pub struct SchemaFile {
    /// Path or URL of this JSON Schema, for editors. Ignored by the gateway.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<String>,
    /// Roles by name, as carried in the `role` claim of a caller's token.
    #[serde(default)]
    pub roles: IndexMap<String, Role>,
    /// Synced tables by name (lowercase letters, digits and `_`).
    #[serde(default)]
    pub tables: IndexMap<String, Table>,
}

/// A role and the rows it may reach.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Which rows a role reaches: `all`; `branch` (the table's `branch_column` equals the caller's
/// `branch` claim); `owner` (the table's `owner_column` equals the caller's subject); or a rule
/// `{ column = "...", claim = "..." }` (that column equals that claim).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Scope {
    Named(NamedScope),
    Claim(ClaimRule),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NamedScope {
    /// Every row of every branch and owner.
    All,
    /// Rows whose `branch_column` equals the caller's `branch` claim.
    Branch,
    /// Rows whose `owner_column` equals the caller's subject (`sub` claim).
    Owner,
}

/// Rows whose `column` equals the caller's claim `claim`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRule {
    /// Column compared, in every table the role may use.
    pub column: String,
    /// Name of the token claim it must equal, e.g. `region` or `sub`.
    pub claim: String,
}

// Hand-written so that a typo gets "unknown scope `branc`" rather than serde's "data did not
// match any variant of untagged enum".
impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(deserializer)?;
        match value {
            serde_json::Value::String(name) => match name.as_str() {
                "all" => Ok(Scope::Named(NamedScope::All)),
                "branch" => Ok(Scope::Named(NamedScope::Branch)),
                "owner" => Ok(Scope::Named(NamedScope::Owner)),
                _ => Err(D::Error::unknown_variant(
                    &name,
                    &["all", "branch", "owner"],
                )),
            },
            serde_json::Value::Object(_) => serde_json::from_value(value)
                .map(Scope::Claim)
                .map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "scope must be `all`, `branch`, `owner` or {{ column = \"…\", claim = \"…\" }}, \
                 not {other}"
            ))),
        }
    }
}

/// A synced table.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Column that identifies a row; its type must be `text`, `integer` or `uuid`.
    #[serde(default = "default_primary_key")]
    pub primary_key: String,
    /// Who gives a new row its key: `client` (every insert sends it) or `server` (an insert
    /// may leave it out and the gateway assigns one: the next integer of this gateway's range,
    /// see `sync.key_node`, or a random UUID). A sent key is used as it is either way.
    #[serde(default, skip_serializing_if = "KeyAssignedBy::is_client")]
    pub key_assigned_by: KeyAssignedBy,
    /// Column holding the row's branch, for roles scoped by `branch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_column: Option<String>,
    /// Column holding the subject (user id) that owns the row, for roles scoped by `owner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_column: Option<String>,
    /// A `json` column holding an array of further subjects who reach the row besides its
    /// owner, for roles scoped by `owner` (e.g. the technicians assigned to an inspection): they
    /// read and write it like the owner. Needs `owner_column`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignees_column: Option<String>,
    /// The table takes its rows' scope from a parent table: a row is read and written by exactly
    /// those who reach the parent row its `column` names (e.g. the form fills of an inspection,
    /// `{ column = "inspection_id", table = "inspections" }`). No scope column is copied onto the
    /// row; when the parent moves, its rows move with it. The parent may itself take its scope
    /// from a parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_from: Option<ScopeFrom>,
    /// A reference table every permitted role reads and writes whole, whatever its scope
    /// (e.g. a price list shared by all branches). Without it, a scoped role may only use a
    /// table that has its scope column.
    #[serde(default, skip_serializing_if = "is_false")]
    pub shared: bool,
    /// Operations per role: a string of the letters `c` (create), `r` (read), `u` (update),
    /// `d` (delete), e.g. `{ ADMIN = "crud", CAJERO = "r" }`. A role not listed has none.
    #[serde(default)]
    pub permissions: IndexMap<String, String>,
    /// What happens when a write is based on an outdated version of the row.
    #[serde(default)]
    pub conflict: ConflictStrategy,
    /// How an outdated write is recognised.
    #[serde(default)]
    pub conflict_detection: ConflictDetection,
    /// What a pushed `update` or `delete` of a key that has no row (or none the caller may see)
    /// is answered with: `error` (404 `row_not_found`; an atomic batch rolls back) or `ignore`
    /// (applied with nothing written, like SQL's `UPDATE … WHERE id = ?` matching no row).
    #[serde(default, skip_serializing_if = "MissingRow::is_error")]
    pub missing_row: MissingRow,
    /// Timestamp column used by `conflict_detection = "updated_at"` and `last_write_wins`. When
    /// the table has it, no write moves it backwards, and a delete records when it happened.
    #[serde(default = "default_updated_at_column")]
    pub updated_at_column: String,
    /// The server stamps `updated_at_column` with its own time on every write. A client's value
    /// is then only compared with the stored one (to detect a conflict), never stored.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stamp_updated_at: bool,
    /// A column whose values `GET /sync/status` counts, per value, among the caller's rows
    /// (e.g. inspections by `status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_column: Option<String>,
    /// Hook plugins run on this table's writes, in order: `NAME` is `plugins/NAME.rhai`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<String>,
    /// Also run the `after_commit` hooks and webhooks for rows other connections wrote directly
    /// in the database (their `validate` and `transform` never run: those writes have
    /// committed). Off by default.
    #[serde(default, skip_serializing_if = "is_false")]
    pub external_hooks: bool,
    /// The role the table's hooks write other rows as (`write(table, action, row)`), with the
    /// caller's subject and claims: its permissions and scope decide what they may write. Unset,
    /// hooks write as the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The table's columns by name (lowercase letters, digits and `_`).
    pub columns: IndexMap<String, Column>,
}

/// Where a table's rows take their scope from: the parent row named by one of their columns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeFrom {
    /// The column holding the parent row's primary key (of the same type).
    pub column: String,
    /// The parent table.
    pub table: String,
}

fn default_primary_key() -> String {
    "id".into()
}

fn default_updated_at_column() -> String {
    "updated_at".into()
}

fn is_false(value: &bool) -> bool {
    !value
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyAssignedBy {
    /// Every insert sends the key.
    #[default]
    Client,
    /// An insert without the key gets one from the gateway (integer or uuid keys).
    Server,
}

impl KeyAssignedBy {
    fn is_client(&self) -> bool {
        *self == KeyAssignedBy::Client
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissingRow {
    /// 404 `row_not_found`.
    #[default]
    Error,
    /// Answered as applied, with `version` 0 and no row: nothing was written.
    Ignore,
}

impl MissingRow {
    fn is_error(&self) -> bool {
        *self == MissingRow::Error
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStrategy {
    /// Keep the server's row and report the conflict with it.
    #[default]
    ServerWins,
    /// Apply the client's row.
    ClientWins,
    /// The row with the newer `updated_at_column` wins; ties keep the server's row.
    LastWriteWins,
    /// The client's fields override; fields the client did not send are kept.
    Merge,
    /// Apply nothing and queue the conflict for a person to resolve through the API.
    Manual,
    /// A hook plugin's `on_conflict` decides.
    Hook,
}

impl ConflictStrategy {
    /// The name the schema files use.
    pub fn name(self) -> &'static str {
        match self {
            ConflictStrategy::ServerWins => "server_wins",
            ConflictStrategy::ClientWins => "client_wins",
            ConflictStrategy::LastWriteWins => "last_write_wins",
            ConflictStrategy::Merge => "merge",
            ConflictStrategy::Manual => "manual",
            ConflictStrategy::Hook => "hook",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictDetection {
    /// The write's `base_version` is older than the row's server-assigned version.
    #[default]
    Version,
    /// The write's `updated_at_column` is older than the stored one.
    UpdatedAt,
}

/// A column and the values it accepts.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Column {
    #[serde(rename = "type")]
    pub kind: ColumnType,
    /// Whether `null` is accepted. Columns are required unless nullable or defaulted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub nullable: bool,
    /// Value stored when a write leaves the column out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// Smallest accepted value (`integer`, `real`, `decimal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest accepted value (`integer`, `real`, `decimal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Fewest characters accepted (`text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    /// Most characters accepted (`text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// The accepted values of an `enum` column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Media types a `file` column accepts, checked against the file's content (e.g.
    /// `["image/png", "image/jpeg"]`, or `["image/*"]`); any type when empty. On a `json`
    /// column: files uploaded under one of its keys (`field` = `COLUMN.KEY`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept: Vec<String>,
    /// Largest file a `file` column (or a key of a `json` column) accepts, in bytes (default
    /// 10 MB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    /// `json` columns: every update merges a sent object into the stored one key by key
    /// (conflict or not), so keys only the server has, such as ids of attached photos, are
    /// kept. A key sent as `null` is kept as `null`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub merge: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// A string.
    Text,
    /// A 64-bit signed integer.
    Integer,
    /// A 64-bit float.
    Real,
    /// An exact decimal number, sent as a string or a number (e.g. `"19.99"`).
    Decimal,
    Boolean,
    /// An RFC 3339 date and time, e.g. `2026-11-22T10:00:00Z`.
    Timestamp,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A UUID string.
    Uuid,
    /// Any JSON value.
    Json,
    /// One of the column's `values`.
    Enum,
    /// A reference to an uploaded file.
    File,
}

impl ColumnType {
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Integer => "integer",
            ColumnType::Real => "real",
            ColumnType::Decimal => "decimal",
            ColumnType::Boolean => "boolean",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Date => "date",
            ColumnType::Uuid => "uuid",
            ColumnType::Json => "json",
            ColumnType::Enum => "enum",
            ColumnType::File => "file",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            ColumnType::Integer | ColumnType::Real | ColumnType::Decimal
        )
    }
}
