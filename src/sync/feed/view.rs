//! A reader's view: the tables it reads with its scope in each, the page size, tombstones or
//! not, and the shape of what it reads. Worked out once per request (once per schema, for a
//! stream), not at every wake-up.

use crate::auth::Caller;
use crate::schema::Schema;
use crate::store::RowScope;
use crate::sync::SyncError;
use crate::sync::access::{Access, readable};
use std::sync::Arc;

/// What each entry of a page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A change of the feed: `{seq, table, key, version, deleted, row}`.
    Change,
    /// The row alone (pull).
    Row,
}

/// What a reader asks to read, apart from where it starts (its cursor).
#[derive(Debug, Clone)]
pub struct ViewQuery {
    pub limit: u64,
    /// The tables named by the request; every readable table when `None`.
    pub tables: Option<Vec<String>>,
    pub include_deleted: bool,
}

#[derive(Debug)]
pub struct View {
    /// The schema the scopes were worked out with; kept alive, so that its address identifies it.
    pub schema: Arc<Schema>,
    /// Each table read, with the caller's scope in it.
    pub scans: Vec<(String, RowScope)>,
    pub limit: u64,
    pub include_deleted: bool,
    pub shape: Shape,
    /// All of the above as text: reads share a page only when their views are equal.
    pub(super) key: String,
}

impl View {
    /// What `caller` reads with `query` under `schema`; an error when it may not read a table
    /// it names.
    pub fn of(
        schema: &Arc<Schema>,
        caller: &Caller,
        query: &ViewQuery,
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

    fn new(
        schema: Arc<Schema>,
        scans: Vec<(String, RowScope)>,
        limit: u64,
        include_deleted: bool,
        shape: Shape,
    ) -> Self {
        // The schema's address: a reload's new table layouts never share a read with the old.
        let key = format!(
            "{:p}|{limit}|{include_deleted}|{shape:?}|{scans:?}",
            Arc::as_ptr(&schema)
        );
        Self {
            schema,
            scans,
            limit,
            include_deleted,
            shape,
            key,
        }
    }
}
