//! Importing writes made outside the gateway: the rows other connections inserted, updated or
//! deleted directly in the database (logged by the triggers of `store::external`) enter the
//! changes feed through the write pipeline, like the gateway's own writes.
//!
//! One import is one write transaction: it takes logged entries out, reads (and locks) the rows
//! as they are now, and writes each back with a new feed position and version (a deleted row
//! as a tombstone), with the moves its scope change owes readers and, on an edge, an outbox
//! entry. Entries leave the log only when that transaction commits, so a change is either still
//! logged or in the feed, whatever stops the gateway. On PostgreSQL an advisory lock lets one
//! replica import at a time.

use super::SyncError;
use super::feed::Feed;
use super::write::{Actor, WriteOptions, Writer};
use crate::auth::Caller;
use crate::plugins::Plugins;
use crate::schema::Schema;
use crate::store::external::{self, Logged};
use crate::store::rows::StoredRow;
use indexmap::IndexMap;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use std::sync::Arc;
use std::time::Duration;

/// Entries imported in one transaction.
const BATCH: u64 = 300;

/// Advisory lock key held by the replica importing ("sgimport" in ASCII).
const IMPORT_LOCK_KEY: i64 = 0x7367_696d_706f_7274;

/// The subject and device external writes are recorded under (outbox entries, hook context).
pub const EXTERNAL: &str = "external";

/// What an import needs each time it runs: the schema and hooks served now.
pub type Served = Arc<dyn Fn() -> (Arc<Schema>, Arc<Plugins>) + Send + Sync>;

/// Imports external writes into the feed.
#[derive(Clone)]
pub struct Importer {
    db: DatabaseConnection,
    feed: Feed,
    /// Record imported rows in the outbox for the hub (an edge).
    outbox: bool,
    served: Served,
    /// One import at a time in this process.
    running: Arc<tokio::sync::Mutex<()>>,
}

impl Importer {
    pub fn new(db: DatabaseConnection, feed: Feed, outbox: bool, served: Served) -> Self {
        Self {
            db,
            feed,
            outbox,
            served,
            running: Arc::default(),
        }
    }

    /// Imports every logged change; returns how many rows entered the feed.
    pub async fn import_pending(&self) -> Result<usize, SyncError> {
        let _one = self.running.lock().await;
        let mut imported = 0;
        while external::any_pending(&self.db).await? {
            imported += self.import_batch().await?;
        }
        Ok(imported)
    }

    /// Imports at start (changes made while the gateway was down), then whenever the database
    /// announces a logged change (PostgreSQL) and every `interval` (SQLite, whose other
    /// processes cannot announce anything; on PostgreSQL the fallback for a lost listener).
    pub fn spawn(self, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let logged = self.feed.external_logged();
            loop {
                if let Err(error) = self.import_pending().await {
                    tracing::warn!(%error, "importing external writes failed; retrying");
                }
                tokio::select! {
                    _ = logged.notified() => {}
                    _ = tokio::time::sleep(interval) => {}
                }
            }
        })
    }

    async fn import_batch(&self) -> Result<usize, SyncError> {
        let (schema, plugins) = (self.served)();
        let caller = Caller::system(EXTERNAL);
        let options = WriteOptions {
            feed: self.feed.clone(),
            outbox: self.outbox,
            hooks: true,
            lookup: None,
        };
        let actor = Actor {
            caller: &caller,
            device_id: EXTERNAL,
        };
        let mut writer = Writer::begin(&self.db, &plugins, actor, options).await?;
        if self.db.get_database_backend() == DbBackend::Postgres {
            writer
                .connection()
                .execute_unprepared(&format!("SELECT pg_advisory_xact_lock({IMPORT_LOCK_KEY})"))
                .await?;
        }
        let logged = external::take(writer.connection(), BATCH).await?;
        if logged.is_empty() {
            return Ok(0);
        }
        let now = chrono::Utc::now().timestamp_millis();
        let mut imported = 0;
        for (table_name, rows) in first_per_row(logged) {
            let Some(table) = schema.table(&table_name) else {
                // A table no longer declared: nothing of it reaches the feed.
                continue;
            };
            let kind = table.spec.columns[&table.spec.primary_key].kind;
            let keys: Vec<_> = rows
                .keys()
                .map(|key| external::parse_key(kind, key))
                .collect();
            writer.preload(table, &keys).await?;
            let mut count = 0;
            for (key, old_row) in keys.iter().zip(rows.into_values()) {
                let before = old_row
                    .map(|old| external::logged_row(self.db.get_database_backend(), table, &old));
                let now_row = writer.current(table, key).await?;
                let Some(mut after) = settle(before.as_ref(), now_row, now) else {
                    continue;
                };
                if before.as_ref().is_none_or(|before| before.deleted) {
                    fill_defaults(table, &mut after);
                }
                writer.import(table, key, before, after, table.spec.external_hooks);
                count += 1;
            }
            crate::ops::metrics::external_changes(&table.name, count);
            imported += count;
        }
        writer.commit(&schema).await?;
        Ok(imported)
    }
}

/// Logged entries by table and key, each row once with the state it had before its first
/// logged change (the state the feed last had), in the order they were logged.
fn first_per_row(
    logged: Vec<Logged>,
) -> IndexMap<String, IndexMap<String, Option<serde_json::Value>>> {
    let mut rows: IndexMap<String, IndexMap<String, Option<serde_json::Value>>> = IndexMap::new();
    for entry in logged {
        rows.entry(entry.table)
            .or_default()
            .entry(entry.key)
            .or_insert(entry.old_row);
    }
    rows
}

/// A row another program inserted gets the declared defaults of the columns it left null, as
/// a row inserted through the gateway does.
fn fill_defaults(table: &crate::schema::TableDef, row: &mut StoredRow) {
    for (name, column) in &table.spec.columns {
        if let Some(default) = &column.default
            && row.values.get(name).is_none_or(serde_json::Value::is_null)
        {
            let value = crate::schema::values::normalize(column, default.clone());
            row.values.insert(name.clone(), value);
        }
    }
}

/// The row to write for a change: the row as it is now, or the tombstone of a deleted one; its
/// version past both the version before (the triggers bumped it once per update; an insert has
/// 0) and the stored one. `None` when there is nothing to tell a reader: a row inserted and
/// deleted before the import, or a tombstone deleted.
fn settle(before: Option<&StoredRow>, now: Option<StoredRow>, millis: i64) -> Option<StoredRow> {
    let past = before.map_or(0, |before| before.version + 1);
    let mut after = match (now, before) {
        (Some(row), _) => row,
        (None, Some(before)) if !before.deleted => StoredRow {
            deleted: true,
            ..before.clone()
        },
        (None, _) => return None,
    };
    after.version = after.version.max(past).max(1);
    after.changed_at = millis;
    Some(after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(version: i64, deleted: bool) -> StoredRow {
        StoredRow {
            values: json!({"id": 1}).as_object().unwrap().clone(),
            version,
            seq: 0,
            deleted,
            changed_at: 0,
        }
    }

    #[test]
    fn an_insert_starts_at_version_one() {
        assert_eq!(settle(None, Some(row(0, false)), 5).unwrap().version, 1);
    }

    #[test]
    fn an_update_keeps_the_bumped_version_and_a_delete_bumps_the_tombstone() {
        assert_eq!(
            settle(Some(&row(3, false)), Some(row(4, false)), 5)
                .unwrap()
                .version,
            4
        );
        let tombstone = settle(Some(&row(3, false)), None, 5).unwrap();
        assert!(tombstone.deleted);
        assert_eq!(tombstone.version, 4);
        // Deleted and inserted again before the import: past the deleted row's version.
        assert_eq!(
            settle(Some(&row(3, false)), Some(row(0, false)), 5)
                .unwrap()
                .version,
            4
        );
    }

    #[test]
    fn a_row_inserted_and_deleted_before_the_import_is_nothing() {
        assert_eq!(settle(None, None, 5), None);
        assert_eq!(settle(Some(&row(2, true)), None, 5), None);
    }

    #[test]
    fn each_row_keeps_its_first_logged_state() {
        let entry = |id, key: &str, old: Option<serde_json::Value>| Logged {
            id,
            table: "t".into(),
            key: key.into(),
            old_row: old,
        };
        let rows = first_per_row(vec![
            entry(1, "a", Some(json!({"v": 1}))),
            entry(2, "b", None),
            entry(3, "a", Some(json!({"v": 2}))),
        ]);
        assert_eq!(rows["t"]["a"], Some(json!({"v": 1})));
        assert_eq!(rows["t"]["b"], None);
    }
}
