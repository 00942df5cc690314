//! What can go wrong in the sync core, without HTTP: the API layer maps each kind to a status.

use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The table is not in the schema, or the caller's role has no permission on it.
    #[error("table `{table}` does not exist; the tables you may use are: {}", list(.available))]
    UnknownTable {
        table: String,
        available: Vec<String>,
    },
    #[error("{0}")]
    Forbidden(String),
    #[error("no row with key {key} in table `{table}`")]
    RowNotFound { table: String, key: String },
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// A key already taken by a row the caller cannot see.
    #[error("{0}")]
    KeyTaken(String),
    /// An op id used for two different changes.
    #[error("{0}")]
    OpIdReused(String),
    /// Another writer changed what this one read; running the change again will do.
    #[error("{0}")]
    Contended(String),
    /// A manual conflict that was already resolved.
    #[error("{0}")]
    AlreadyResolved(String),
    #[error("{0}")]
    BadRequest(String),
    /// The caller's credentials stopped working during the request.
    #[error("{0}")]
    Unauthorized(String),
    /// The caller's view changed since its cursor was read: `tables` are to be read again from
    /// the start, `dropped` to be dropped; `cursor` continues the rest.
    #[error(
        "your view of the data changed since this cursor was handed out (your token's claims, \
         or the schema's permissions or scopes): drop the rows you hold of {} and read them again \
         without a cursor{}, then go on from `cursor` in the details",
        list(.tables),
        dropped_clause(.dropped)
    )]
    ResyncRequired {
        tables: Vec<String>,
        dropped: Vec<String>,
        cursor: String,
    },
    #[error("{0}")]
    Hook(#[from] crate::plugins::HookError),
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

fn list(tables: &[String]) -> String {
    if tables.is_empty() {
        "none".into()
    } else {
        tables
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn dropped_clause(dropped: &[String]) -> String {
    if dropped.is_empty() {
        String::new()
    } else {
        format!("; drop {} entirely, you no longer read them", list(dropped))
    }
}

impl SyncError {
    /// A client-chosen or path identifier (`device_id`, `op_id`, an id in a path) that no
    /// backend could store alike: empty, over 200 characters, or with control characters.
    pub fn check_identifier(field: &str, text: &str) -> Result<(), SyncError> {
        crate::schema::values::check_identifier(text)
            .map_err(|reason| SyncError::invalid(field, format!("`{field}` {reason}")))
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        SyncError::Invalid {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::UnknownTable { .. } => "unknown_table",
            SyncError::Forbidden(_) => "forbidden",
            SyncError::RowNotFound { .. } => "row_not_found",
            SyncError::Invalid { .. } => "validation_failed",
            SyncError::KeyTaken(_) => "key_taken",
            SyncError::OpIdReused(_) => "op_id_reused",
            SyncError::AlreadyResolved(_) => "already_resolved",
            SyncError::Contended(_) => "contended",
            SyncError::BadRequest(_) => "bad_request",
            SyncError::Unauthorized(_) => "unauthorized",
            SyncError::ResyncRequired { .. } => "resync_required",
            SyncError::Hook(crate::plugins::HookError::Rejected { .. }) => "rejected_by_hook",
            SyncError::Hook(crate::plugins::HookError::Failed { .. }) => "hook_failed",
            SyncError::Db(_) => "internal",
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            SyncError::Invalid { field, .. } => field.as_deref(),
            SyncError::OpIdReused(_) => Some("op_id"),
            SyncError::ResyncRequired { .. } => Some("cursor"),
            _ => None,
        }
    }
}
