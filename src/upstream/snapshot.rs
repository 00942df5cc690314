//! Snapshots: the edge pulls the hub's changes feed (as its upstream token sees it) into its own
//! tables — everything from the start (`full`), or what changed since the last snapshot.
//! Pulled rows are not queued back to the hub. A row with local writes not yet drained is kept
//! as it is (its pending write will reach the hub, whose conflict rules decide), except on
//! `server_wins` tables, where the hub's row replaces it and the pending writes become CONFLICT.

use super::{HubError, Upstream};
use crate::schema::Schema;
use crate::schema::model::ConflictStrategy;
use crate::store::rows::{self, StoredRow};
use crate::store::{feed, outbox, snapshots};
use crate::sync::data::{check_sent, complete_new_row};
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The key snapshot progress is stored under: one hub, one feed position per edge.
pub const SNAPSHOT_KEY: &str = "upstream";
const PAGE: u32 = 1000;

#[derive(Debug, Clone, Default)]
pub struct SnapshotReport {
    /// Rows written per table.
    pub counts: BTreeMap<String, u64>,
    /// Rows kept because they have local writes not yet pushed.
    pub kept_local: u64,
    pub snapshot_at: i64,
    /// The local feed position after the snapshot.
    pub position: i64,
    /// The hub's cursor the next incremental snapshot starts from.
    pub hub_cursor: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

pub async fn snapshot(
    db: &DatabaseConnection,
    schema: &Schema,
    upstream: &Upstream,
    full: bool,
) -> Result<SnapshotReport, SnapshotError> {
    let mut cursor = if full {
        0
    } else {
        snapshots::get(db, SNAPSHOT_KEY)
            .await?
            .map_or(0, |(cursor, _)| cursor)
    };
    let mut report = SnapshotReport::default();
    loop {
        let page = match upstream.client.changes(&cursor.to_string(), PAGE).await {
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
        report.position = apply_page(db, schema, &changes, &mut report)
            .await?
            .max(report.position);
        cursor = page["cursor"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cursor);
        if page["has_more"] != Value::Bool(true) {
            break;
        }
    }
    report.snapshot_at = chrono::Utc::now().timestamp_millis();
    report.hub_cursor = cursor;
    snapshots::set(db, SNAPSHOT_KEY, cursor, report.snapshot_at).await?;
    Ok(report)
}

/// Writes one page of the hub's changes in one transaction; returns the local feed position.
async fn apply_page(
    db: &DatabaseConnection,
    schema: &Schema,
    changes: &[Value],
    report: &mut SnapshotReport,
) -> Result<i64, DbErr> {
    let (txn, _turn) = feed::begin_write(db).await?;
    let head = feed::lock(&txn).await?;
    let mut seq = head;
    let now = chrono::Utc::now().timestamp_millis();
    for change in changes {
        let Some(table) = change["table"].as_str().and_then(|name| schema.table(name)) else {
            continue;
        };
        let mut row: Map<String, Value> = change["row"].as_object().cloned().unwrap_or_default();
        row.remove("_version");
        row.retain(|column, _| table.spec.columns.contains_key(column));
        let values = match check_sent(table, &row).and_then(|sent| complete_new_row(table, &sent)) {
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
        if outbox::has_pending(&txn, &table.name, &key).await? {
            if table.spec.conflict != ConflictStrategy::ServerWins {
                report.kept_local += 1;
                continue;
            }
            outbox::supersede(
                &txn,
                &table.name,
                &key,
                "replaced by the hub's row in a snapshot (server_wins)",
            )
            .await?;
        }
        let local = rows::find(&txn, table, &key).await?;
        if let Some(local) = &local
            && local.values == values
            && local.deleted == deleted
        {
            continue;
        }
        seq += 1;
        let stored = StoredRow {
            values,
            version: local.as_ref().map_or(1, |l| l.version + 1),
            seq,
            deleted,
            changed_at: now,
        };
        rows::write(&txn, table, &stored, local.is_some()).await?;
        *report.counts.entry(table.name.clone()).or_default() += 1;
    }
    if seq > head {
        feed::store(&txn, seq).await?;
    }
    txn.commit().await?;
    Ok(seq)
}
