//! Conflict detection and the per-table strategies.

use crate::schema::TableDef;
use crate::schema::model::{ConflictDetection, ConflictStrategy};
use crate::store::rows::StoredRow;
use serde_json::{Map, Value};

/// What to do with a conflicting write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Apply,
    /// Keep the server's row and report the conflict.
    Keep,
    /// Keep the server's row and queue the conflict for a person.
    Queue,
}

/// Why a write to an existing live row conflicts, if it does: by row version, or by the
/// table's `updated_at` column.
pub fn detect(
    table: &TableDef,
    base_version: Option<i64>,
    sent: &Map<String, Value>,
    server: &StoredRow,
) -> Option<String> {
    match table.spec.conflict_detection {
        ConflictDetection::Version => {
            base_version
                .filter(|base| *base < server.version)
                .map(|base| {
                    format!(
                        "the row changed since version {base}; it is now at version {}",
                        server.version
                    )
                })
        }
        ConflictDetection::UpdatedAt => older_time(table, sent, server),
    }
}

/// Why the write is older than the stored row by the table's `updated_at` column, if it is.
fn older_time(table: &TableDef, sent: &Map<String, Value>, server: &StoredRow) -> Option<String> {
    let column = &table.spec.updated_at_column;
    let client = timestamp(sent.get(column))?;
    let stored = timestamp(server.values.get(column))?;
    (client < stored).then(|| {
        format!(
            "the server's `{column}` ({}) is newer than the client's",
            server.values[column]
        )
    })
}

/// Under `last_write_wins`, a write that carries an `updated_at` older than the stored row's
/// conflicts whatever its base version says: the newest operation by `updated_at` wins, in
/// whatever order the operations arrive (a device that saw the current version may still hold
/// an older write).
pub fn older_than_stored(
    table: &TableDef,
    sent: &Map<String, Value>,
    server: &StoredRow,
) -> Option<String> {
    if table.spec.conflict != ConflictStrategy::LastWriteWins {
        return None;
    }
    older_time(table, sent, server)
}

/// Under `last_write_wins`, whether a delete of a row already deleted happened after the
/// stored delete: then the tombstone takes its time, so a later update with a time between the
/// two still loses to it.
pub fn later_delete(table: &TableDef, sent: &Map<String, Value>, tombstone: &StoredRow) -> bool {
    if table.spec.conflict != ConflictStrategy::LastWriteWins {
        return false;
    }
    let column = &table.spec.updated_at_column;
    match (
        timestamp(sent.get(column)),
        timestamp(tombstone.values.get(column)),
    ) {
        (Some(client), Some(stored)) => client > stored,
        (Some(_), None) => true,
        _ => false,
    }
}

/// The table's strategy applied to a conflict. `use_local` forces the client's row.
pub fn decide(
    table: &TableDef,
    use_local: bool,
    sent: &Map<String, Value>,
    server: &StoredRow,
) -> Decision {
    if use_local {
        return Decision::Apply;
    }
    match table.spec.conflict {
        ConflictStrategy::ClientWins | ConflictStrategy::Merge => Decision::Apply,
        ConflictStrategy::LastWriteWins => {
            let column = &table.spec.updated_at_column;
            match (
                timestamp(sent.get(column)),
                timestamp(server.values.get(column)),
            ) {
                // Ties keep the server's row, so every replica decides alike.
                (Some(client), Some(stored)) if client > stored => Decision::Apply,
                (Some(_), None) => Decision::Apply,
                _ => Decision::Keep,
            }
        }
        ConflictStrategy::Manual => Decision::Queue,
        // `syncgate check` refuses `hook` until hook plugins decide conflicts.
        ConflictStrategy::ServerWins | ConflictStrategy::Hook => Decision::Keep,
    }
}

fn timestamp(value: Option<&Value>) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(value?.as_str()?).ok()
}
