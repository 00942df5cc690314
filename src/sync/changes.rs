//! The changes feed: the current state (or tombstone) of every row changed after a cursor that
//! the caller may read, in feed order; and the long-poll that waits for the next visible change.

use super::SyncError;
use super::access::{Access, readable};
use super::notify::FeedWatch;
use super::shared_read::{FeedPage, PageRequest, SharedReads, View};
use super::types::ChangesPage;
use crate::auth::Caller;
use crate::schema::Schema;
use crate::store::row_json::Shape;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
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

/// What `caller` reads with `query`: its tables and their scopes under `schema`.
pub fn view(
    schema: &Arc<Schema>,
    caller: &Caller,
    query: &FeedQuery,
    shape: Shape,
) -> Result<Arc<View>, SyncError> {
    let scans = readable(schema, caller, query.tables.as_deref())?
        .into_iter()
        .map(|Access { table, scope, .. }| (table.name.clone(), scope))
        .collect();
    Ok(Arc::new(View::new(
        schema.clone(),
        scans,
        query.limit,
        query.include_deleted,
        shape,
    )))
}

/// The page of `view` after `cursor`, shared with every request that has the same view at the
/// same moment (see [`SharedReads`]).
pub async fn read(
    db: &DatabaseConnection,
    view: &Arc<View>,
    cursor: i64,
    seen: Option<i64>,
    reads: &SharedReads,
) -> Result<Arc<FeedPage>, SyncError> {
    let request = PageRequest {
        view: view.clone(),
        cursor,
        seen,
    };
    reads.read(db, request).await
}

/// A page as the API answers it: the changes moved out of a page read for this request alone,
/// copied from a page shared with other requests.
pub fn to_page(page: Arc<FeedPage>) -> ChangesPage {
    let page = Arc::unwrap_or_clone(page);
    ChangesPage {
        changes: page.entries.into_iter().map(|entry| entry.json).collect(),
        cursor: page.cursor.to_string(),
        has_more: page.has_more,
    }
}

/// One page of the feed; with `wait`, holds the request until a visible change commits or the
/// time is up.
pub async fn changes(
    db: &DatabaseConnection,
    schema: &Arc<Schema>,
    caller: &Caller,
    query: &FeedQuery,
    wait: Duration,
    watch: &FeedWatch,
    reads: &SharedReads,
) -> Result<ChangesPage, SyncError> {
    let deadline = Instant::now() + wait;
    let view = view(schema, caller, query, Shape::Change)?;
    let mut seen = watch.subscribe();
    loop {
        // Only a waiting request shares its reads (see `PageRequest::seen`).
        let position = (!wait.is_zero()).then(|| *seen.borrow_and_update());
        let page = read(db, &view, query.cursor, position, reads).await?;
        if !page.entries.is_empty() || Instant::now() >= deadline {
            return Ok(to_page(page));
        }
        // Wait for any commit (this replica's, or another's seen by the poller), then look
        // again: it may be outside the caller's scope.
        let _ = tokio::time::timeout_at(deadline, seen.changed()).await;
    }
}
