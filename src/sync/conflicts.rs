//! The manual conflict queue: listing the caller's open conflicts and resolving one.

use super::SyncError;
use super::access::{access, readable};
use super::data::{check_sent, overlay};
use super::types::RowObject;
use crate::auth::Caller;
use crate::schema::Schema;
use crate::store::conflicts::{self, StoredConflict};
use crate::store::feed;
use crate::store::rows::{self, StoredRow};
use poem_openapi::Object;
use sea_orm::DatabaseConnection;
use serde_json::{Map, Value};

/// An open conflict: both rows, both versions, and who wrote the client's.
#[derive(Debug, Clone, Object)]
pub struct ConflictView {
    pub id: i64,
    pub table: String,
    pub key: Value,
    /// The server's row when the conflict happened.
    pub server_row: RowObject,
    /// The row the client wanted (`_deleted: true` for a deletion).
    pub client_row: RowObject,
    pub server_version: i64,
    /// The version the client based its change on, when it sent one.
    #[oai(skip_serializing_if_is_none)]
    pub base_version: Option<i64>,
    pub device_id: String,
    /// Subject of the user whose push conflicted.
    pub user: String,
    pub created_at: String,
}

impl From<StoredConflict> for ConflictView {
    fn from(stored: StoredConflict) -> Self {
        Self {
            id: stored.id,
            table: stored.table,
            key: stored.key,
            server_row: RowObject(stored.server_row),
            client_row: RowObject(stored.client_row),
            server_version: stored.server_version,
            base_version: stored.base_version,
            device_id: stored.device_id,
            user: stored.subject,
            created_at: stored.created_at,
        }
    }
}

/// How a person resolved a conflict.
pub enum Resolution {
    UseLocal,
    UseServer,
    Merged(Map<String, Value>),
}

impl Resolution {
    fn name(&self) -> &'static str {
        match self {
            Resolution::UseLocal => "use_local",
            Resolution::UseServer => "use_server",
            Resolution::Merged(_) => "merged",
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct ResolvedConflict {
    pub id: i64,
    pub resolution: String,
    pub table: String,
    pub key: Value,
    /// The row's version after the resolution.
    pub version: i64,
    pub deleted: bool,
    pub row: RowObject,
}

/// Open conflicts on rows the caller may read.
pub async fn list(
    db: &DatabaseConnection,
    schema: &Schema,
    caller: &Caller,
) -> Result<Vec<ConflictView>, SyncError> {
    let tables = readable(schema, caller, None)?;
    let names: Vec<&str> = tables.iter().map(|a| a.table.name.as_str()).collect();
    let open = conflicts::open(db, &names).await?;
    Ok(open
        .into_iter()
        .filter(|conflict| {
            tables
                .iter()
                .find(|a| a.table.name == conflict.table)
                .is_some_and(|a| a.scope.allows(&conflict.server_row))
        })
        .map(ConflictView::from)
        .collect())
}

/// Applies a resolution as a new version of the row; returns it and the feed position.
pub async fn resolve(
    db: &DatabaseConnection,
    schema: &Schema,
    caller: &Caller,
    id: i64,
    resolution: Resolution,
    outbox: bool,
) -> Result<(ResolvedConflict, i64), SyncError> {
    let (txn, _turn) = crate::store::feed::begin_write(db).await?;
    let head = feed::lock(&txn).await?;
    let missing = || SyncError::RowNotFound {
        table: "syncgate_conflicts".into(),
        key: id.to_string(),
    };
    let conflict = conflicts::get(&txn, id).await?.ok_or_else(missing)?;
    let access = access(schema, caller, &conflict.table).map_err(|_| missing())?;
    if !access.scope.allows(&conflict.server_row) {
        return Err(missing());
    }
    if conflict.status != "open" {
        return Err(SyncError::KeyTaken(format!(
            "conflict {id} was already resolved ({})",
            conflict.resolution.as_deref().unwrap_or("unknown")
        )));
    }
    if !access.permissions.update {
        return Err(SyncError::Forbidden(format!(
            "your role `{}` may not update rows of table `{}`",
            caller.role, conflict.table
        )));
    }
    let table = access.table;
    let current = rows::find(&txn, table, &conflict.key)
        .await?
        .filter(|row| access.scope.allows(&row.values))
        .ok_or_else(missing)?;
    let client_deletes = conflict.client_row.get("_deleted") == Some(&Value::Bool(true));
    let (values, deleted) = match &resolution {
        Resolution::UseServer => (current.values.clone(), current.deleted),
        Resolution::UseLocal => {
            let mut client = conflict.client_row.clone();
            client.remove("_deleted");
            (
                overlay(&current.values, &check_sent(table, &client)?, false),
                client_deletes,
            )
        }
        Resolution::Merged(data) => (
            overlay(&current.values, &check_sent(table, data)?, false),
            false,
        ),
    };
    if !access.scope.allows(&values) {
        return Err(SyncError::Forbidden(
            "the resolved row would be outside your scope".into(),
        ));
    }
    let row = StoredRow {
        values,
        changed_at: chrono::Utc::now().timestamp_millis(),
        version: current.version + 1,
        seq: head + 1,
        deleted,
    };
    rows::write(&txn, table, &row, true).await?;
    if outbox {
        super::push::record_outbox(
            &txn,
            table,
            &conflict.key,
            &row,
            caller,
            &conflict.device_id,
        )
        .await?;
    }
    feed::store(&txn, row.seq).await?;
    conflicts::mark_resolved(&txn, id, resolution.name(), &caller.subject).await?;
    txn.commit().await?;
    Ok((
        ResolvedConflict {
            id,
            resolution: resolution.name().into(),
            table: table.name.clone(),
            key: conflict.key,
            version: row.version,
            deleted: row.deleted,
            row: RowObject(row.to_client()),
        },
        row.seq,
    ))
}
