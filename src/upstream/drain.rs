//! The drain job: pushes PENDING outbox entries to the hub in outbox order, a batch ending
//! before a second entry of a row it holds (so changes arrive in the order they were made), each with its own op id (so a retry after a
//! lost answer is not applied twice). Applied → SYNCED; the hub kept its row → CONFLICT (not
//! retried); failed → retried with growing pauses, then ERROR with the last error. Entries are
//! leased in the database, so replicas sharing it never send one concurrently, and a dead
//! replica's lease expires.

use super::{HubError, Upstream};
use crate::config::DrainJobConfig;
use crate::store::outbox::{self, CONFLICT, ERROR, Entry, PENDING, SYNCED};
use sea_orm::{DatabaseConnection, DbErr};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// Batches sent per run at most, so one run ends even when writes keep coming.
const MAX_BATCHES_PER_RUN: usize = 100;

#[derive(Debug, Default, Clone, Serialize)]
pub struct DrainReport {
    pub synced: u64,
    pub conflicts: u64,
    pub failed: u64,
    /// Why the last entry that failed was not delivered.
    pub last_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

/// Pause before the next try: 1 s, 2 s, 4 s … at most a minute.
fn backoff_ms(attempts: i64) -> i64 {
    1000_i64
        .saturating_mul(1 << attempts.clamp(0, 6))
        .min(60_000)
}

/// One drain run.
pub async fn drain(
    db: &DatabaseConnection,
    upstream: &Upstream,
    settings: &DrainJobConfig,
) -> Result<DrainReport, DrainError> {
    let mut report = DrainReport::default();
    let batch_size = settings.batch_size.max(1) as usize;
    for _ in 0..MAX_BATCHES_PER_RUN {
        let now = chrono::Utc::now().timestamp_millis();
        let candidates = outbox::pending(db, (batch_size * 4) as u64).await?;
        let picked = pick(&candidates, batch_size, now);
        if picked.is_empty() {
            break;
        }
        let ids: Vec<i64> = picked.iter().map(|e| e.id).collect();
        let leased: HashSet<i64> =
            outbox::lease(db, &ids, now, now + settings.lease.as_millis() as i64)
                .await?
                .into_iter()
                .collect();
        let batch: Vec<&Entry> = picked
            .into_iter()
            .filter(|e| leased.contains(&e.id))
            .collect();
        if batch.is_empty() {
            break;
        }
        let operations: Vec<Value> = batch
            .iter()
            .map(
                |e| json!({"op_id": e.op_id, "table": e.table, "action": e.action, "data": e.data}),
            )
            .collect();
        match upstream.client.push(operations).await {
            Err(error) => {
                upstream.connectivity.record(if error.is_unreachable() {
                    Err(error.to_string())
                } else {
                    Ok(())
                });
                // An unreachable hub is nobody's entry's fault: the entries wait for it without
                // using up their tries (only the hub's refusals count towards ERROR).
                let counts = !error.is_unreachable();
                for entry in &batch {
                    fail(
                        db,
                        entry,
                        &error.to_string(),
                        counts,
                        settings,
                        now,
                        &mut report,
                    )
                    .await?;
                }
                break;
            }
            Ok(answer) => {
                upstream.connectivity.record(Ok(()));
                let results = results_by_op_id(&answer);
                for entry in &batch {
                    match results.get(entry.op_id.as_str()) {
                        Some(Outcome::Applied) => {
                            outbox::finish(
                                db,
                                entry.id,
                                SYNCED,
                                entry.attempts + 1,
                                now,
                                None,
                                now,
                            )
                            .await?;
                            report.synced += 1;
                        }
                        Some(Outcome::Conflict(reason)) => {
                            let reason = format!("the hub kept its row: {reason}");
                            outbox::finish(
                                db,
                                entry.id,
                                CONFLICT,
                                entry.attempts + 1,
                                now,
                                Some(&reason),
                                now,
                            )
                            .await?;
                            report.conflicts += 1;
                        }
                        Some(Outcome::Error(message)) => {
                            fail(db, entry, message, true, settings, now, &mut report).await?
                        }
                        None => {
                            fail(
                                db,
                                entry,
                                "the hub's answer did not mention it",
                                true,
                                settings,
                                now,
                                &mut report,
                            )
                            .await?
                        }
                    }
                }
            }
        }
    }
    if report.synced + report.conflicts + report.failed > 0 {
        tracing::info!(
            synced = report.synced,
            conflicts = report.conflicts,
            failed = report.failed,
            "outbox drained"
        );
    }
    Ok(report)
}

/// The entries to send now, in outbox order, up to `limit`: the batch ends before a second
/// entry of a row it holds, so that no entry overtakes an older one (a sale whose hook lowers a
/// stock after the stock's correction reaches the hub after it too). A row whose oldest entry is
/// waiting for a retry sends nothing newer meanwhile; other rows go on.
fn pick(candidates: &[Entry], limit: usize, now: i64) -> Vec<&Entry> {
    let mut picked_rows = HashSet::new();
    let mut waiting_rows = HashSet::new();
    let mut picked = Vec::new();
    for entry in candidates {
        let row = (entry.table.as_str(), entry.key.to_string());
        if waiting_rows.contains(&row) {
            continue;
        }
        if picked_rows.contains(&row) {
            break;
        }
        if entry.next_attempt_at > now {
            waiting_rows.insert(row);
            continue;
        }
        picked_rows.insert(row);
        picked.push(entry);
        if picked.len() == limit {
            break;
        }
    }
    picked
}

enum Outcome {
    Applied,
    Conflict(String),
    Error(String),
}

fn results_by_op_id(answer: &Value) -> HashMap<&str, Outcome> {
    let mut outcomes = HashMap::new();
    for (list, make) in [
        (
            "applied",
            (|_: &Value| Outcome::Applied) as fn(&Value) -> Outcome,
        ),
        ("conflicts", |r: &Value| {
            Outcome::Conflict(
                r["conflict"]["reason"]
                    .as_str()
                    .unwrap_or("conflict")
                    .to_string(),
            )
        }),
        ("errors", |r: &Value| {
            Outcome::Error(
                r["error"]["message"]
                    .as_str()
                    .unwrap_or("error")
                    .to_string(),
            )
        }),
    ] {
        for result in answer[list].as_array().into_iter().flatten() {
            if let Some(op_id) = result["op_id"].as_str() {
                outcomes.insert(op_id, make(result));
            }
        }
    }
    outcomes
}

async fn fail(
    db: &DatabaseConnection,
    entry: &Entry,
    error: &str,
    counts: bool,
    settings: &DrainJobConfig,
    now: i64,
    report: &mut DrainReport,
) -> Result<(), DbErr> {
    let attempts = entry.attempts + i64::from(counts);
    let status = if counts && attempts >= i64::from(settings.max_retries) {
        ERROR
    } else {
        PENDING
    };
    outbox::finish(
        db,
        entry.id,
        status,
        attempts,
        // A refused entry waits longer after each try; while the hub is unreachable every entry
        // stays due, so that the next run sends them oldest first once it answers.
        if counts {
            now + backoff_ms(attempts)
        } else {
            now
        },
        Some(error),
        now,
    )
    .await?;
    report.failed += 1;
    report.last_error = Some(error.to_string());
    Ok(())
}

impl From<HubError> for DrainError {
    fn from(error: HubError) -> Self {
        DrainError::Db(DbErr::Custom(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::OutboxAction;

    fn entry(id: i64, key: &str, next_attempt_at: i64) -> Entry {
        Entry {
            id,
            op_id: format!("op-{id}"),
            table: "t".into(),
            key: json!(key),
            action: OutboxAction::Upsert,
            data: json!({}),
            subject: "s".into(),
            branch: None,
            device_id: "d".into(),
            status: PENDING.into(),
            attempts: 0,
            next_attempt_at,
            last_error: None,
            created_at: 0,
            synced_at: None,
        }
    }

    #[test]
    fn a_batch_ends_before_a_second_entry_of_a_row_and_skips_rows_that_wait() {
        let entries = [
            entry(1, "a", 0),
            entry(2, "w", 99),
            entry(3, "b", 0),
            entry(4, "w", 0),
            entry(5, "a", 0),
            entry(6, "c", 0),
        ];
        let ids = |picked: Vec<&Entry>| picked.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(
            ids(pick(&entries, 10, 10)),
            [1, 3],
            "stops before a's second entry"
        );
        assert_eq!(ids(pick(&entries[2..], 10, 10)), [3, 4, 5, 6]);
        assert_eq!(ids(pick(&entries, 1, 10)), [1]);
    }
}
