//! The changes feed: the current state (or tombstone) of every row changed after a cursor that
//! the caller may read, in feed order; and the long-poll that waits for the next visible change.

use super::SyncError;
use super::access::{Access, readable};
use super::notify::FeedWatch;
use super::types::{Change, ChangesPage};
use crate::auth::Caller;
use crate::schema::Schema;
use crate::store::feed;
use crate::store::rows::{self, Scan, StoredRow};
use sea_orm::DatabaseConnection;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct FeedQuery {
    pub cursor: i64,
    pub limit: u64,
    pub tables: Option<Vec<String>>,
    pub include_deleted: bool,
}

/// Reads a cursor given by a client (`""` and absent mean "from the start").
pub fn parse_cursor(cursor: Option<&str>) -> Result<i64, SyncError> {
    match cursor.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(0),
        Some(text) => text.parse::<i64>().ok().filter(|c| *c >= 0).ok_or_else(|| {
            SyncError::invalid(
                "cursor",
                format!("`{text}` is not a cursor returned by this gateway"),
            )
        }),
    }
}

/// Rows of the readable tables changed after `query.cursor`, merged in feed order.
pub async fn read(
    db: &DatabaseConnection,
    schema: &Schema,
    caller: &Caller,
    query: &FeedQuery,
) -> Result<(Vec<(String, StoredRow)>, String, bool), SyncError> {
    let tables = readable(schema, caller, query.tables.as_deref())?;
    // Read the head first: every position up to it has committed, so it is a safe cursor
    // when nothing more is visible.
    let head = feed::head(db).await?;
    if query.cursor > head {
        return Err(SyncError::invalid(
            "cursor",
            format!(
                "cursor {} is beyond the head of the changes feed ({head}): it was not issued by this \
                 gateway's database; start again without a cursor",
                query.cursor
            ),
        ));
    }
    let mut found: Vec<(String, StoredRow)> = Vec::new();
    for Access { table, scope, .. } in &tables {
        let scan = Scan {
            scope,
            after_seq: query.cursor,
            include_deleted: query.include_deleted,
            limit: query.limit + 1,
        };
        for row in rows::scan(db, table, &scan).await? {
            found.push((table.name.clone(), row));
        }
    }
    found.sort_by_key(|(_, row)| row.seq);
    let has_more = found.len() as u64 > query.limit;
    found.truncate(query.limit as usize);
    let last = found.last().map_or(query.cursor, |(_, row)| row.seq);
    let cursor = if has_more {
        last
    } else {
        last.max(head).max(query.cursor)
    };
    Ok((found, cursor.to_string(), has_more))
}

pub fn to_change(schema: &Schema, table: String, row: StoredRow) -> Change {
    let key = schema
        .table(&table)
        .and_then(|t| row.values.get(&t.spec.primary_key).cloned())
        .unwrap_or_default();
    Change {
        seq: row.seq,
        key,
        version: row.version,
        deleted: row.deleted,
        row: row.into_client(),
        table,
    }
}

/// One page of the feed; with `wait`, holds the request until a visible change commits or the
/// time is up.
pub async fn changes(
    db: &DatabaseConnection,
    schema: &Schema,
    caller: &Caller,
    query: &FeedQuery,
    wait: Duration,
    watch: &FeedWatch,
) -> Result<ChangesPage, SyncError> {
    let deadline = Instant::now() + wait;
    let mut seen = watch.subscribe();
    loop {
        let (rows, cursor, has_more) = read(db, schema, caller, query).await?;
        if !rows.is_empty() || Instant::now() >= deadline {
            return Ok(ChangesPage {
                changes: rows
                    .into_iter()
                    .map(|(table, row)| to_change(schema, table, row))
                    .collect(),
                cursor,
                has_more,
            });
        }
        // Wait for any commit (this replica's, or another's seen by the poller), then look
        // again: it may be outside the caller's scope.
        let _ = tokio::time::timeout_at(deadline, seen.changed()).await;
    }
}
