//! What follows a write made outside the gateway. The triggers of `store::external` already put
//! the rows other connections write in the changes feed, in the writer's own transaction; they
//! also log each row (`syncgate_external_changes`), and here the gateway does with the log what
//! it does after a write of its own: on an edge an outbox entry for the hub, for a table with
//! `external_hooks` its `after_commit` hooks and webhooks, and the count of external changes.
//!
//! One batch is one transaction: the entries leave the log with the outbox entries and webhook
//! deliveries written, so each is done once whatever stops the gateway, and entries logged while
//! it was down are done when it starts. On PostgreSQL an advisory lock lets one replica follow
//! the log at a time.

use super::SyncError;
use super::feed::Feed;
use crate::plugins::webhook::Webhook;
use crate::plugins::{HookContext, HookOp, Plugins};
use crate::schema::{Schema, TableDef};
use crate::store::external::{self, Logged};
use crate::store::outbox::{self, NewEntry, OutboxAction};
use crate::store::rows::{self, StoredRow};
use crate::store::{feed, webhooks};
use indexmap::IndexMap;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Log entries taken in one transaction.
const BATCH: u64 = 5000;

/// How long a wake-up waits for more entries before following them.
const GATHER: Duration = Duration::from_millis(50);

/// Advisory lock key held by the replica following the log ("sgextern" in ASCII).
const FOLLOW_LOCK_KEY: i64 = 0x7367_6578_7465_726e;

/// The subject and device external writes are recorded under (outbox entries, hook context).
pub const EXTERNAL: &str = "external";

/// What following the log needs each time it runs: the schema and hooks served now.
pub type Served = Arc<dyn Fn() -> (Arc<Schema>, Arc<Plugins>) + Send + Sync>;

/// Follows the log of external writes.
#[derive(Clone)]
pub struct Follower {
    db: DatabaseConnection,
    feed: Feed,
    /// Record external writes in the outbox for the hub (an edge).
    outbox: bool,
    served: Served,
    /// One batch at a time in this process.
    running: Arc<tokio::sync::Mutex<()>>,
}

/// One external change to follow up.
struct Change<'a> {
    table: &'a TableDef,
    key: Value,
    /// The row as it was before (`None`: inserted).
    before: Option<StoredRow>,
    /// The row as it is now (a tombstone when deleted).
    now: StoredRow,
}

impl Follower {
    pub fn new(db: DatabaseConnection, feed: Feed, outbox: bool, served: Served) -> Self {
        Self {
            db,
            feed,
            outbox,
            served,
            running: Arc::default(),
        }
    }

    /// Follows up to one batch of logged changes; returns how many. Batches are a tick apart
    /// (`spawn`) rather than back to back: on SQLite each holds the write lock, and a writer
    /// that finds it taken sleeps in SQLite's busy handler, so following the log without a
    /// pause under a stream of external writes halved their throughput in a run.
    pub async fn follow_pending(&self) -> Result<usize, SyncError> {
        let _one = self.running.lock().await;
        if !external::any_pending(&self.db).await? {
            return Ok(0);
        }
        self.follow_batch().await
    }

    /// Follows the log at start (changes made while the gateway was down), then whenever the
    /// database announces a logged change (PostgreSQL) and every `interval` (SQLite, whose other
    /// processes cannot announce anything; on PostgreSQL the fallback for a lost listener). A
    /// wake-up waits [`GATHER`] first, so that a burst of statements is followed in one batch.
    pub fn spawn(self, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let logged = self.feed.external_logged();
            loop {
                match self.follow_pending().await {
                    // A full batch: more is waiting.
                    Ok(followed) if followed as u64 >= BATCH => {
                        tokio::time::sleep(GATHER).await;
                        continue;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "following external writes failed; retrying")
                    }
                }
                tokio::select! {
                    _ = logged.notified() => {}
                    _ = tokio::time::sleep(interval) => {}
                }
                tokio::time::sleep(GATHER).await;
            }
        })
    }

    async fn follow_batch(&self) -> Result<usize, SyncError> {
        let (schema, plugins) = (self.served)();
        let (txn, turn) = feed::begin_write(&self.db).await?;
        let backend = self.db.get_database_backend();
        if backend == DbBackend::Postgres {
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({FOLLOW_LOCK_KEY})"))
                .await?;
        }
        let logged = external::take(&txn, BATCH).await?;
        if logged.is_empty() {
            return Ok(0);
        }
        let mut changes = Vec::with_capacity(logged.len());
        let mut counted = 0;
        for (table_name, entries) in first_per_row(logged) {
            // A table no longer declared: nothing of it is followed.
            let Some(table) = schema.table(&table_name) else {
                continue;
            };
            if !self.outbox && !table.spec.external_hooks {
                // Nothing follows but the count: the rows need not be read.
                crate::ops::metrics::external_changes(&table.name, entries.len());
                counted += entries.len();
                continue;
            }
            let keys: Vec<Value> = entries
                .keys()
                .filter_map(|key| table.parse_key(key).ok())
                .collect();
            let mut found = rows::find_many(&txn, table, &keys, false).await?;
            for (key, old_row) in keys.into_iter().zip(entries.into_values()) {
                let Some(now) = found.remove(&key.to_string()) else {
                    continue;
                };
                let before = old_row.map(|old| external::logged_row(backend, table, &old));
                if before.is_none() && now.deleted {
                    // Inserted and deleted since the last batch: nothing to tell anyone.
                    continue;
                }
                changes.push(Change {
                    table,
                    key,
                    before,
                    now,
                });
            }
        }
        let now = chrono::Utc::now().timestamp_millis();
        let mut after_commit = Vec::new();
        let mut entries = Vec::new();
        for change in &changes {
            if self.outbox {
                entries.push(outbox_entry(change));
            }
            if change.table.spec.external_hooks {
                let (op, ctx) = hook_call(change);
                for webhook in plugins.webhooks(change.table) {
                    let body = Webhook::after_commit_body(&op, &ctx);
                    webhooks::enqueue(&txn, &webhook.url, &body, now).await?;
                }
                after_commit.push((change.table, op, ctx));
            }
        }
        outbox::insert_many(&txn, &entries, now).await?;
        txn.commit().await?;
        drop(turn);
        // `changes` is built table by table: one count per table, as for the tables above.
        for same_table in changes.chunk_by(|a, b| a.table.name == b.table.name) {
            crate::ops::metrics::external_changes(&same_table[0].table.name, same_table.len());
        }
        for (table, op, ctx) in &after_commit {
            plugins.after_commit(table, op, ctx);
        }
        Ok(changes.len() + counted)
    }
}

/// Logged entries by table and key, each row once with the state it had before its first
/// logged change, in the order they were logged.
fn first_per_row(logged: Vec<Logged>) -> IndexMap<String, IndexMap<String, Option<Value>>> {
    let mut rows: IndexMap<String, IndexMap<String, Option<Value>>> = IndexMap::new();
    for entry in logged {
        rows.entry(entry.table)
            .or_default()
            .entry(entry.key)
            .or_insert(entry.old_row);
    }
    rows
}

/// The hook action of a change: a delete, an update of a live row, or an insert.
fn action(change: &Change<'_>) -> &'static str {
    match &change.before {
        _ if change.now.deleted => "delete",
        Some(before) if !before.deleted => "update",
        _ => "insert",
    }
}

/// The outbox entry carrying a change to the hub: the row now, or its removal.
fn outbox_entry(change: &Change<'_>) -> NewEntry {
    NewEntry {
        table: change.table.name.clone(),
        key: change.key.clone(),
        action: if change.now.deleted {
            OutboxAction::Delete
        } else {
            OutboxAction::Upsert
        },
        data: Value::Object(change.now.values.clone()),
        subject: EXTERNAL.into(),
        branch: None,
        device_id: EXTERNAL.into(),
    }
}

/// What a change's `after_commit` hooks and webhooks are called with.
fn hook_call(change: &Change<'_>) -> (HookOp, HookContext) {
    let action = action(change);
    let op = HookOp {
        action: action.into(),
        table: change.table.name.clone(),
        key: change.key.clone(),
        data: change.now.values.clone(),
        row: change.now.values.clone(),
        current: change
            .before
            .as_ref()
            .filter(|before| !before.deleted)
            .map(|before| before.values.clone()),
        op_id: None,
    };
    let ctx = HookContext {
        user: EXTERNAL.into(),
        role: String::new(),
        branch: None,
        device: EXTERNAL.into(),
        table: change.table.name.clone(),
        action: action.into(),
        now: crate::schema::values::format_timestamp(chrono::Utc::now()),
        lookup: None,
        writes: None,
        max_writes: 0,
    };
    (op, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_row_keeps_its_first_logged_state() {
        let entry = |id, key: &str, old: Option<Value>| Logged {
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
