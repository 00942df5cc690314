//! The manual conflict queue: listing the caller's open conflicts and resolving one.

use super::SyncError;
use super::access::{access, admits, readable};
use super::data::{VERSION_FIELD, check_sent};
use super::types::{Action, Row};
use super::write::{Actor, ConflictRule, RowWrite, WriteOptions, Writer};
use crate::auth::Caller;
use crate::plugins::Plugins;
use crate::schema::Schema;
use crate::store::conflicts::{self, StoredConflict};
use crate::store::rows;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// An open conflict: both rows, both versions, and who wrote the client's.
#[derive(Debug, Clone, Serialize)]
pub struct ConflictView {
    pub id: i64,
    pub table: String,
    pub key: Value,
    /// The server's row when the conflict happened.
    pub server_row: Row,
    /// The row the client wanted (`_deleted: true` for a deletion).
    pub client_row: Row,
    pub server_version: i64,
    /// The version the client based its change on, when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
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
            server_row: stored.server_row,
            client_row: stored.client_row,
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

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedConflict {
    pub id: i64,
    pub resolution: String,
    pub table: String,
    pub key: Value,
    /// The row's version after the resolution.
    pub version: i64,
    pub deleted: bool,
    pub row: Row,
}

/// Open conflicts on rows the caller may read now: a conflict follows its row's current scope,
/// not the scope the row had when the conflict happened.
pub async fn list(
    db: &DatabaseConnection,
    schema: &Schema,
    caller: &Caller,
) -> Result<Vec<ConflictView>, SyncError> {
    let tables = readable(schema, caller, None)?;
    let names: Vec<&str> = tables.iter().map(|a| a.table.name.as_str()).collect();
    let open = conflicts::open(db, &names).await?;
    let mut current = HashMap::new();
    for access in &tables {
        let keys: Vec<Value> = open
            .iter()
            .filter(|conflict| conflict.table == access.table.name)
            .map(|conflict| conflict.key.clone())
            .collect();
        if !keys.is_empty() {
            let rows = rows::find_many(db, access.table, &keys, false).await?;
            current.insert(access.table.name.as_str(), rows);
        }
    }
    let mut listed = Vec::new();
    for conflict in open {
        let row = current
            .get(conflict.table.as_str())
            .and_then(|rows| rows.get(&conflict.key.to_string()));
        let access = tables.iter().find(|a| a.table.name == conflict.table);
        if let Some((access, row)) = access.zip(row)
            && admits(db, access, &row.values).await?
        {
            listed.push(ConflictView::from(conflict));
        }
    }
    Ok(listed)
}

/// Applies a resolution as a new version of the row, through the write pipeline (so the table's
/// hooks and webhooks run, and an edge records it for the hub).
pub async fn resolve(
    db: &DatabaseConnection,
    schema: &Schema,
    plugins: &Plugins,
    caller: &Caller,
    id: i64,
    resolution: Resolution,
    options: WriteOptions,
) -> Result<ResolvedConflict, SyncError> {
    let missing = || SyncError::RowNotFound {
        table: "syncgate_conflicts".into(),
        key: id.to_string(),
    };
    // Whose conflict it is: the resolution is recorded for the device that pushed it.
    let device_id = conflicts::get(db, id).await?.ok_or_else(missing)?.device_id;
    let actor = Actor {
        caller,
        device_id: &device_id,
    };
    let mut writer = Writer::begin(db, plugins, actor, options).await?;
    // Read again under the feed lock, which every resolution of it also takes.
    let conflict = conflicts::get(writer.connection(), id)
        .await?
        .ok_or_else(missing)?;
    let access = access(schema, caller, &conflict.table).map_err(|_| missing())?;
    // Whose the conflict is follows the row's current scope (checked below), not the scope the
    // row had when the conflict happened.
    let table = access.table;
    let current = writer
        .current(table, &conflict.key)
        .await?
        .ok_or_else(missing)?;
    if !writer.admits(&access, &current.values).await? {
        return Err(missing());
    }
    if conflict.status != "open" {
        return Err(SyncError::AlreadyResolved(format!(
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
    let resolution_name = resolution.name();
    let (action, sent) = match resolution {
        Resolution::UseServer if current.deleted => (Action::Delete, Map::new()),
        Resolution::UseServer => (Action::Update, Map::new()),
        Resolution::UseLocal => {
            let mut client = conflict.client_row.clone();
            let deletes = client.remove("_deleted") == Some(Value::Bool(true));
            client.remove(VERSION_FIELD);
            let action = if deletes {
                Action::Delete
            } else {
                Action::Update
            };
            (action, check_sent(table, client)?)
        }
        Resolution::Merged(data) => (Action::Update, check_sent(table, data)?),
    };
    let written = writer
        .apply(RowWrite {
            access: &access,
            action,
            key: conflict.key.clone(),
            sent: &sent,
            base_version: None,
            rule: ConflictRule::Apply,
            op_id: None,
            new_row: None,
        })
        .await?;
    conflicts::mark_resolved(writer.connection(), id, resolution_name, &caller.subject).await?;
    writer.commit(schema).await?;
    let row = written.row;
    Ok(ResolvedConflict {
        id,
        resolution: resolution_name.into(),
        table: table.name.clone(),
        key: conflict.key,
        version: row.version,
        deleted: row.deleted,
        row: row.into_client(),
    })
}
