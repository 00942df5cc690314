//! `POST /sync/pull` (seed 002): the live rows of some tables, grouped by table, a page at a
//! time through a cursor; after a cursor, also the keys of rows that left the caller's view.

use super::Feed;
use super::cursor::Cursor;
use super::view::{Shape, View, ViewQuery};
use crate::auth::Caller;
use crate::ops::metrics::rows_served;
use crate::schema::Schema;
use crate::sync::SyncError;
use indexmap::IndexMap;
use sea_orm::DatabaseConnection;
use serde_json::value::RawValue;
use std::sync::Arc;

pub struct PullPage {
    /// Rows by table, each as JSON built once.
    pub data: IndexMap<String, Vec<Box<RawValue>>>,
    /// Keys of rows that left the caller's view after the cursor, by table (only tables with
    /// some).
    pub removed: IndexMap<String, Vec<Box<RawValue>>>,
    pub cursor: String,
    pub has_more: bool,
}

impl Feed {
    pub async fn pull(
        &self,
        db: &DatabaseConnection,
        schema: &Arc<Schema>,
        caller: &Caller,
        tables: Option<Vec<String>>,
        cursor: &Cursor,
        limit: u64,
    ) -> Result<PullPage, SyncError> {
        let query = ViewQuery {
            limit,
            tables,
            include_deleted: false,
        };
        let view = View::of(schema, caller, &query, Shape::Row)?;
        view.check(cursor)?;
        let page = self.read(db, &view, cursor.seq, None).await?;
        let mut data: IndexMap<String, Vec<Box<RawValue>>> = IndexMap::new();
        // Every requested table appears, even when it has no rows.
        for (table, _) in &view.scans {
            data.insert(table.clone(), Vec::new());
        }
        // Read for this request alone: the rows are moved, not copied.
        let page = Arc::unwrap_or_clone(page);
        rows_served("pull", page.entries.len());
        let mut removed: IndexMap<String, Vec<Box<RawValue>>> = IndexMap::new();
        for entry in page.entries {
            let into = if entry.removed {
                &mut removed
            } else {
                &mut data
            };
            into.entry(entry.table).or_default().push(entry.json);
        }
        Ok(PullPage {
            data,
            removed,
            cursor: view.cursor(page.cursor),
            has_more: page.has_more,
        })
    }
}
