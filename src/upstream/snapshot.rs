//! Snapshots: the edge pulls the hub's changes feed (as its upstream token sees it, or narrowed
//! to one branch) into its own tables — everything from the start (`full`), or what changed
//! since the last snapshot of the same view. Progress is kept per view: the edge-wide one (the
//! scheduled job's) and one per branch (`POST /sync/snapshot`, for the caller's branch).
//! Pulled rows are not queued back to the hub. A row with local writes not yet drained is kept
//! as it is (its pending write will reach the hub, whose conflict rules decide), except on
//! `server_wins` tables, where the hub's row replaces it and the pending writes become CONFLICT.

use super::{HubError, Upstream};
use crate::auth::Caller;
use crate::plugins::Plugins;
use crate::schema::Schema;
use crate::schema::model::ConflictStrategy;
use crate::store::{outbox, snapshots};
use crate::sync::data::{check_sent, complete_new_row};
use crate::sync::feed::{Feed, parse_cursor};
use crate::sync::types::Action;
use crate::sync::write::{Actor, ConflictRule, RowWrite, WriteOptions, Writer};
use crate::sync::{Access, SyncError};
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The key of the edge-wide snapshot's progress (the scheduled job's): the hub's feed as the
/// upstream token sees it.
pub const SNAPSHOT_KEY: &str = "upstream";

/// The key of one branch's snapshot progress: the hub's feed narrowed to that branch.
pub fn branch_key(branch: &str) -> String {
    format!("branch:{branch}")
}
const PAGE: u32 = 1000;

#[derive(Debug, Clone, Default)]
pub struct SnapshotReport {
    /// Rows written per table.
    pub counts: BTreeMap<String, u64>,
    /// Rows kept because they have local writes not yet pushed.
    pub kept_local: u64,
    pub snapshot_at: i64,
    /// The hub's cursor the next incremental snapshot starts from.
    pub hub_cursor: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    Sync(#[from] SyncError),
}

impl From<DbErr> for SnapshotError {
    fn from(error: DbErr) -> Self {
        SnapshotError::Sync(error.into())
    }
}

pub async fn snapshot(
    db: &DatabaseConnection,
    feed: &Feed,
    schema: &Schema,
    upstream: &Upstream,
    full: bool,
    branch: Option<&str>,
) -> Result<SnapshotReport, SnapshotError> {
    let key = branch.map_or_else(|| SNAPSHOT_KEY.to_string(), branch_key);
    let mut cursor = if full {
        0
    } else {
        snapshots::get(db, &key)
            .await?
            .map_or(0, |(cursor, _)| cursor)
    };
    let mut report = SnapshotReport::default();
    loop {
        let page = match upstream
            .client
            .changes(&cursor.to_string(), PAGE, branch)
            .await
        {
            Ok(page) => {
                upstream.connectivity.record(Ok(()));
                page
            }
            Err(error) => {
                if error.is_unreachable() {
                    upstream.connectivity.record(Err(error.to_string()));
                }
                return Err(error.into());
            }
        };
        let changes = page["changes"].as_array().cloned().unwrap_or_default();
        apply_page(db, feed, schema, &changes, &mut report).await?;
        // The hub's cursors carry a stamp of the edge's view after the position; the position
        // is what is kept.
        cursor = page["cursor"]
            .as_str()
            .and_then(|c| parse_cursor(Some(c)).ok())
            .map_or(cursor, |c| c.seq);
        if page["has_more"] != Value::Bool(true) {
            break;
        }
    }
    report.snapshot_at = chrono::Utc::now().timestamp_millis();
    report.hub_cursor = cursor;
    snapshots::set(db, &key, cursor, report.snapshot_at).await?;
    Ok(report)
}

/// Writes one page of the hub's changes through the write pipeline, in one transaction, with no
/// hooks (the hub ran them) and no outbox entries (no echo).
async fn apply_page(
    db: &DatabaseConnection,
    feed: &Feed,
    schema: &Schema,
    changes: &[Value],
    report: &mut SnapshotReport,
) -> Result<(), SnapshotError> {
    let caller = Caller::system("syncgate:snapshot");
    let plugins = Plugins::default();
    let actor = Actor {
        caller: &caller,
        device_id: SNAPSHOT_KEY,
    };
    // Rows the hub already accepted: no outbox entry, no hooks.
    let options = WriteOptions {
        feed: feed.clone(),
        outbox: false,
        hooks: false,
        reads: None,
        max_hook_writes: 0,
        key_node: 0,
    };
    let mut writer = Writer::begin(db, &plugins, actor, options).await?;
    let mut rows = Vec::with_capacity(changes.len());
    let mut removals = Vec::new();
    for change in changes {
        let Some(table) = change["table"].as_str().and_then(|name| schema.table(name)) else {
            continue;
        };
        // The row left the edge's view at the hub: its removal carries the key alone, and the
        // edge drops the row (a tombstone, which its own devices receive in turn).
        if change["removed"] == Value::Bool(true) {
            let pk = &table.spec.primary_key;
            let key = Map::from_iter([(pk.clone(), change["key"].clone())]);
            if let Some(key) = check_sent(table, key)
                .ok()
                .and_then(|sent| sent.get(pk).cloned())
            {
                removals.push((Access::unrestricted(table), key));
            }
            continue;
        }
        let mut row: Map<String, Value> = change["row"].as_object().cloned().unwrap_or_default();
        row.retain(|column, _| table.spec.columns.contains_key(column));
        let values = match check_sent(table, row).and_then(|sent| complete_new_row(table, &sent)) {
            Ok(values) => values,
            Err(error) => {
                tracing::warn!(table = %table.name, %error, "snapshot: a hub row does not fit the local schema; skipped");
                continue;
            }
        };
        let key = values
            .get(&table.spec.primary_key)
            .cloned()
            .unwrap_or(Value::Null);
        let deleted = change["deleted"] == Value::Bool(true);
        rows.push((Access::unrestricted(table), key, values, deleted));
    }
    // A removal of a row the edge holds becomes its deletion; of one it does not, nothing.
    for (access, key) in removals {
        if let Some(local) = writer.current(access.table, &key).await?
            && !local.deleted
        {
            let values = local.values;
            rows.push((access, key, values, true));
        }
    }
    for table in schema.tables.values() {
        let keys: Vec<Value> = rows
            .iter()
            .filter(|(access, ..)| access.table.name == table.name)
            .map(|(_, key, ..)| key.clone())
            .collect();
        writer.preload(table, &keys).await?;
    }
    for (access, key, values, deleted) in rows {
        let table = access.table;
        if outbox::has_pending(writer.connection(), &table.name, &key).await? {
            if table.spec.conflict != ConflictStrategy::ServerWins {
                report.kept_local += 1;
                continue;
            }
            outbox::supersede(
                writer.connection(),
                &table.name,
                &key,
                "replaced by the hub's row in a snapshot (server_wins)",
            )
            .await?;
        }
        let unchanged = writer
            .current(table, &key)
            .await?
            .is_some_and(|local| local.deleted == deleted && (deleted || local.values == values));
        if unchanged {
            continue;
        }
        writer
            .apply(RowWrite {
                access: &access,
                action: if deleted {
                    Action::Delete
                } else {
                    Action::Upsert
                },
                key,
                sent: &values,
                base_version: None,
                rule: ConflictRule::Apply,
                op_id: None,
                new_row: None,
            })
            .await?;
        *report.counts.entry(table.name.clone()).or_default() += 1;
    }
    writer.commit(schema).await?;
    Ok(())
}
