//! What the read endpoints share: page sizes, the `tables` list of a query, and one page of the
//! changes feed (for `GET /sync/changes` and every `GET /tables/{table}/changes`).

use super::AppState;
use super::error::ApiError;
use crate::sync::devices;
use crate::sync::feed::{ViewQuery, parse_cursor};
use crate::sync::types::ChangesAnswer;
use std::time::Duration;

/// Default and largest page of the changes feed.
pub const CHANGES_LIMIT: (u64, u64) = (100, 1000);
/// Default and largest page of a pull (seed 002).
pub const PULL_LIMIT: (u64, u64) = (1000, 5000);

/// Reads one page of the changes feed; shared with the per-table endpoint.
pub async fn run_changes(
    state: &AppState,
    caller: &crate::auth::Caller,
    cursor: Option<&str>,
    limit: Option<u64>,
    tables: Option<Vec<String>>,
    wait: Option<u64>,
) -> Result<ChangesAnswer, ApiError> {
    let query = ViewQuery {
        limit: clamp_limit(limit, CHANGES_LIMIT)?,
        tables,
        include_deleted: true,
    };
    let cursor = parse_cursor(cursor)?;
    let wait = Duration::from_secs(wait.unwrap_or(0)).min(state.config.sync.max_wait);
    let schema = state.schema();
    let mut credentials = devices::revocable(&state.db, state.feed.revocations(), caller);
    let page = state
        .feed
        .changes(
            &state.db,
            &schema,
            caller,
            &query,
            &cursor,
            (wait, &mut credentials),
        )
        .await?;
    Ok(page)
}

pub fn clamp_limit(limit: Option<u64>, (default, max): (u64, u64)) -> Result<u64, ApiError> {
    match limit {
        None => Ok(default),
        Some(0) => Err(ApiError::bad_request("limit", "`limit` must be at least 1")),
        Some(limit) => Ok(limit.min(max)),
    }
}

pub fn split_tables(tables: Option<String>) -> Option<Vec<String>> {
    tables.map(|list| {
        list.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect()
    })
}
