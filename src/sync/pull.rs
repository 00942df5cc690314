//! `POST /sync/pull` (seed 002): the live rows of some tables, grouped by table, a page at a
//! time through a cursor.

use super::SyncError;
use super::changes::{FeedQuery, read, view};
use super::shared_read::SharedReads;
use crate::auth::Caller;
use crate::schema::Schema;
use crate::store::row_json::Shape;
use indexmap::IndexMap;
use sea_orm::DatabaseConnection;
use serde_json::value::RawValue;
use std::sync::Arc;

pub struct PullPage {
    /// Rows by table, each as JSON built once.
    pub data: IndexMap<String, Vec<Box<RawValue>>>,
    pub cursor: String,
    pub has_more: bool,
}

pub async fn pull(
    db: &DatabaseConnection,
    schema: &Arc<Schema>,
    caller: &Caller,
    tables: Option<Vec<String>>,
    cursor: i64,
    limit: u64,
) -> Result<PullPage, SyncError> {
    let query = FeedQuery {
        cursor,
        limit,
        tables,
        include_deleted: false,
    };
    let view = view(schema, caller, &query, Shape::Row)?;
    let page = read(db, &view, cursor, None, &SharedReads::default()).await?;
    let mut data: IndexMap<String, Vec<Box<RawValue>>> = IndexMap::new();
    // Every requested table appears, even when it has no rows.
    for (table, _) in &view.scans {
        data.insert(table.clone(), Vec::new());
    }
    // Read for this request alone: the rows are moved, not copied.
    let page = Arc::unwrap_or_clone(page);
    for entry in page.entries {
        data.entry(entry.table).or_default().push(entry.json);
    }
    Ok(PullPage {
        data,
        cursor: page.cursor.to_string(),
        has_more: page.has_more,
    })
}
