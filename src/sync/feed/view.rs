//! A reader's view: the tables it reads with its scope in each, the page size, tombstones or
//! not, and the shape of what it reads. Worked out once per request (once per schema, for a
//! stream), not at every wake-up.

use super::cursor::{Cursor, TableStamp, name_tag, stamped};
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
    /// The request named no tables: it reads every table the caller may read.
    every_table: bool,
    /// Each table read with a fingerprint of its scope, as stamped on the cursors handed out.
    stamps: Vec<TableStamp>,
    /// All of the above as text: reads share a page only when their views are equal.
    pub(super) key: Arc<str>,
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
        Ok(Arc::new(View::new(schema.clone(), scans, query, shape)))
    }

    fn new(
        schema: Arc<Schema>,
        scans: Vec<(String, RowScope)>,
        query: &ViewQuery,
        shape: Shape,
    ) -> Self {
        let (limit, include_deleted) = (query.limit, query.include_deleted);
        // The schema's address: a reload's new table layouts never share a read with the old.
        let key = format!(
            "{:p}|{limit}|{include_deleted}|{shape:?}|{scans:?}",
            Arc::as_ptr(&schema)
        )
        .into();
        let stamps = scans
            .iter()
            .map(|(table, scope)| TableStamp::of(table, scope))
            .collect();
        Self {
            schema,
            scans,
            limit,
            include_deleted,
            shape,
            every_table: query.tables.is_none(),
            stamps,
            key,
        }
    }

    /// The cursor handed out for position `seq` of this view.
    pub fn cursor(&self, seq: i64) -> String {
        stamped(seq, &self.stamps)
    }

    /// The cursor handed out for position `seq` of this view, as a client sends it back.
    pub fn cursor_at(&self, seq: i64) -> Cursor {
        Cursor {
            seq,
            view: Some(self.stamps.clone()),
        }
    }

    /// Whether a reader may go on from `cursor` with this view: refused with
    /// [`SyncError::ResyncRequired`] when a table the cursor was read with is read now with
    /// another scope, or, for a reader of every table, when it no longer reads a table or reads
    /// one it did not (a table it gained has history before the cursor). A request that names
    /// its tables may add one the cursor was not read with: that is its choice. Bare positions
    /// are taken as they are.
    pub fn check(&self, cursor: &Cursor) -> Result<(), SyncError> {
        let Some(read_with) = cursor.view.as_deref().filter(|_| cursor.seq > 0) else {
            return Ok(());
        };
        let tables: Vec<String> = self
            .scans
            .iter()
            .zip(&self.stamps)
            .filter(
                |(_, now)| match read_with.iter().find(|then| then.name == now.name) {
                    Some(then) => then.scope != now.scope,
                    // A table the reader of every table did not read then: it gained the table.
                    None => self.every_table,
                },
            )
            .map(|((table, _), _)| table.clone())
            .collect();
        let dropped: Vec<&TableStamp> = if self.every_table {
            read_with
                .iter()
                .filter(|then| !self.stamps.iter().any(|now| now.name == then.name))
                .collect()
        } else {
            Vec::new()
        };
        if tables.is_empty() && dropped.is_empty() {
            return Ok(());
        }
        // A table gone from the schema altogether can no longer be named.
        let dropped = self
            .schema
            .tables
            .keys()
            .filter(|table| dropped.iter().any(|then| then.name == name_tag(table)))
            .cloned()
            .collect();
        Err(SyncError::ResyncRequired {
            tables,
            dropped,
            cursor: self.cursor(cursor.seq),
        })
    }
}
