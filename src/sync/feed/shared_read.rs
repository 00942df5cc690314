//! Reads of the changes feed shared by every request that wants the same page at the same
//! moment. When a write commits, every long-poll and live stream wakes at once; those with the
//! same view (the same tables and row scopes, cursor and page size) get one read between them
//! instead of one query each.
//!
//! A read is shared only by requests that saw the same feed position before asking: a read
//! that began before a commit must not answer a request that the commit woke, or that request
//! would miss the change and sleep again. A finished read stays for the requests that come
//! later having seen the same position (the thousands a commit woke are not all polled before
//! the first read ends), until a request that saw a newer one comes.

use super::cursor::beyond_head;
use super::view::{Shape, View};
use crate::store::feed;
use crate::store::moves;
use crate::store::row_json;
use crate::store::rows::Scan;
use crate::sync::SyncError;
use bytes::Bytes;
use sea_orm::DatabaseConnection;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tracing::Instrument;

/// One page of the feed, in feed order, each entry already JSON (built once, whoever reads it).
#[derive(Debug, Clone)]
pub struct FeedPage {
    pub entries: Vec<PageEntry>,
    pub cursor: i64,
    pub has_more: bool,
    /// The page as a live stream sends it, encoded by the first stream that sends it and
    /// written as the same bytes by every other stream sharing the read.
    pub(super) events: OnceLock<Bytes>,
    /// The page as the changes feed answers it, encoded once likewise.
    pub(super) answer: OnceLock<Bytes>,
}

#[derive(Debug, Clone)]
pub struct PageEntry {
    pub seq: i64,
    pub table: String,
    /// The change (or, for pull, the row) as JSON; for a removal, the removal change (or, for
    /// pull, the key).
    pub json: Box<RawValue>,
    /// The row left the reader's view at `seq` (a move-out), rather than changed within it.
    pub removed: bool,
}

/// What a read asks for.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub view: Arc<View>,
    pub cursor: i64,
    /// The feed position a waiting request had seen when it asked; `None` for a request that
    /// does not wait, which reads on its own (so it surely sees every write committed before
    /// it, on any replica).
    pub seen: Option<i64>,
}

#[derive(Debug, Clone)]
enum ReadFailure {
    BeyondHead { cursor: i64, head: i64 },
    Db(String),
}

/// A read under way: every request with its view waits on the same cell. (tokio's cell queues
/// its waiters in a linked list; `futures::Shared` kept them in one array, whose growth to
/// 10,000 wakers was 7 % of the gateway's time when a write woke 10,000 long-polls.)
type SharedPage = Arc<tokio::sync::OnceCell<Result<Arc<FeedPage>, ReadFailure>>>;

/// What a read under way reads: the view's key, the feed position its readers had seen, and
/// the cursor. (A tuple, not one formatted string: formatting it at every wake of thousands of
/// streams was 4 % of the gateway's time delivering to them.)
type ReadKey = (Arc<str>, i64, i64);

/// The reads under way or done, by what they read.
#[derive(Clone, Default)]
pub struct SharedReads(Arc<Mutex<Reads>>);

#[derive(Default)]
struct Reads {
    /// The newest feed position a reader had seen: reads for older ones are let go.
    newest_seen: i64,
    pages: HashMap<ReadKey, SharedPage>,
}

impl SharedReads {
    /// The page `request` describes: joined to an identical read under way, or read now.
    pub async fn read(
        &self,
        db: &DatabaseConnection,
        request: PageRequest,
    ) -> Result<Arc<FeedPage>, SyncError> {
        let Some(seen) = request.seen else {
            return read_page(db, &request)
                .instrument(read_span(&request))
                .await
                .map(Arc::new)
                .map_err(into_error);
        };
        let key: ReadKey = (request.view.key.clone(), seen, request.cursor);
        let cell = {
            let mut reads = self.lock();
            if seen > reads.newest_seen {
                // A later commit: every reader from now on asks with a newer position.
                reads.newest_seen = seen;
                reads
                    .pages
                    .retain(|(_, read_seen, _), _| *read_seen >= seen);
            }
            reads.pages.entry(key.clone()).or_default().clone()
        };
        // The first request reads; the others wait for its page, or take it once read: the
        // read began after they had seen `seen`, so it holds every change they were woken for.
        // (Letting a finished read go at once made the readers a commit woke read again as soon
        // as the first read ended before they were all polled: 23 reads for one write to
        // 19,000 streams on PostgreSQL.) Should the reading request go away mid-read, the next
        // waiting one reads instead.
        let page = cell
            .get_or_init(|| async {
                let mut forget = ForgetFailed {
                    reads: self,
                    key: &key,
                    read: false,
                };
                let page = read_page(db, &request)
                    .instrument(read_span(&request))
                    .await
                    .map(Arc::new);
                forget.read = page.is_ok();
                page
            })
            .await;
        page.clone().map_err(into_error)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Reads> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The span of one read of the feed: only the reader that reads has one (one span per waiting
/// reader was thousands of spans for one read when a commit woke thousands of streams).
fn read_span(request: &PageRequest) -> tracing::Span {
    tracing::info_span!(
        "feed_read",
        cursor = request.cursor,
        shared = request.seen.is_some()
    )
}

/// Takes a read that failed or was given up out of the map, so that the next reader tries again
/// rather than taking the failure.
struct ForgetFailed<'a> {
    reads: &'a SharedReads,
    key: &'a ReadKey,
    read: bool,
}

impl Drop for ForgetFailed<'_> {
    fn drop(&mut self) {
        if !self.read {
            self.reads.lock().pages.remove(self.key);
        }
    }
}

fn into_error(failure: ReadFailure) -> SyncError {
    match failure {
        ReadFailure::BeyondHead { cursor, head } => beyond_head(cursor, head),
        ReadFailure::Db(message) => SyncError::Db(sea_orm::DbErr::Custom(message)),
    }
}

/// Rows of the requested tables changed after the cursor, merged in feed order.
async fn read_page(
    db: &DatabaseConnection,
    request: &PageRequest,
) -> Result<FeedPage, ReadFailure> {
    let view = &request.view;
    let failed = |error: sea_orm::DbErr| ReadFailure::Db(error.to_string());
    metrics::counter!(crate::ops::metrics::FEED_READS).increment(1);
    // Read the head first: every position up to it has committed, so it is a safe cursor when
    // nothing more is visible, and every query below stops at it (one consistent cut of the
    // feed, though the queries see different moments).
    let head = feed::head(db).await.map_err(failed)?;
    if request.cursor > head {
        return Err(ReadFailure::BeyondHead {
            cursor: request.cursor,
            head,
        });
    }
    let mut found: Vec<PageEntry> = Vec::new();
    let mut moved_parents = false;
    // The page cannot reach past the limit-th row of any one table: moves beyond it are read by
    // a later page.
    let mut upto: Option<i64> = None;
    let mut tables = Vec::with_capacity(view.scans.len());
    for (name, scope) in &view.scans {
        let Some(table) = view.schema.table(name) else {
            continue;
        };
        let scan = Scan {
            scope,
            after_seq: request.cursor,
            upto_seq: head,
            include_deleted: view.include_deleted,
            limit: view.limit + 1,
        };
        let built = match view.shape {
            Shape::Change => row_json::changes(db, table, &scan).await,
            Shape::Row => row_json::rows(db, table, &scan).await,
        }
        .map_err(failed)?;
        if built.len() as u64 > view.limit {
            let last = built[view.limit as usize - 1].0;
            upto = Some(upto.map_or(last, |upto| upto.min(last)));
        }
        found.extend(built.into_iter().map(|(seq, json)| PageEntry {
            seq,
            table: name.clone(),
            json,
            removed: false,
        }));
        tables.push((name, scope, table));
    }
    // A reader starting from nothing holds no row that could have left its view. Moves stop at
    // the head too: a move committed after the rows were read must not carry the cursor past a
    // row committed before it that the rows query did not see.
    let span = moves::Span {
        after: request.cursor,
        upto: Some(upto.map_or(head, |upto| upto.min(head))),
        limit: view.limit + 1,
    };
    for (name, scope, table) in tables.into_iter().filter(|_| request.cursor > 0) {
        let removals = moves::removals(db, table, scope, span)
            .await
            .map_err(failed)?;
        let parent_moves = moves::through_parents(db, table, scope, span)
            .await
            .map_err(failed)?;
        for removal in removals.into_iter().chain(
            parent_moves
                .iter()
                .flat_map(|moved| moved.left.iter().cloned()),
        ) {
            found.push(PageEntry {
                seq: removal.seq,
                table: name.clone(),
                json: match view.shape {
                    Shape::Change => row_json::removal(table, &removal),
                    Shape::Row => row_json::key(&removal.key),
                },
                removed: true,
            });
        }
        moved_parents |= !parent_moves.is_empty();
        for moved in &parent_moves {
            found.extend(moved.entered.iter().map(|row| PageEntry {
                seq: moved.seq,
                table: name.clone(),
                json: row_json::moved_in(table, moved.seq, row, view.shape == Shape::Change),
                removed: false,
            }));
        }
    }
    found.sort_by_key(|entry| entry.seq);
    let has_more = found.len() as u64 > view.limit;
    if has_more {
        // A parent's move brings all its rows at one position: the page takes them whole, even
        // past its limit, since a cursor cannot point inside a position.
        let cut = found[view.limit as usize - 1].seq;
        let whole = found.partition_point(|entry| entry.seq <= cut);
        found.truncate(whole);
    }
    // Only a parent's move can name a row twice in a page (its rows were also written, or left
    // through their own move too).
    let found = if moved_parents {
        last_per_row(found, |entry| entry_key(view, entry))
    } else {
        found
    };
    let last = found.last().map_or(request.cursor, |entry| entry.seq);
    let cursor = if has_more {
        last
    } else {
        last.max(head).max(request.cursor)
    };
    Ok(FeedPage {
        entries: found,
        cursor,
        has_more,
        events: OnceLock::new(),
        answer: OnceLock::new(),
    })
}

/// The page with each row once, at its last entry: a row that moved out and back in, or whose
/// parent moved after the row changed, ends as its last entry says.
fn last_per_row(entries: Vec<PageEntry>, key_of: impl Fn(&PageEntry) -> String) -> Vec<PageEntry> {
    let keys: Vec<(String, String)> = entries
        .iter()
        .map(|entry| (entry.table.clone(), key_of(entry)))
        .collect();
    let mut last: HashMap<&(String, String), usize> = HashMap::with_capacity(entries.len());
    for (index, key) in keys.iter().enumerate() {
        last.insert(key, index);
    }
    entries
        .into_iter()
        .enumerate()
        .filter_map(|(index, entry)| (last[&keys[index]] == index).then_some(entry))
        .collect()
}

/// The key of the row an entry is about, as JSON text.
fn entry_key(view: &View, entry: &PageEntry) -> String {
    let parsed: serde_json::Value = serde_json::from_str(entry.json.get()).unwrap_or_default();
    let key = match view.shape {
        Shape::Change => parsed.get("key"),
        Shape::Row if entry.removed => Some(&parsed),
        Shape::Row => view
            .schema
            .table(&entry.table)
            .and_then(|table| parsed.get(&table.spec.primary_key)),
    };
    key.map(|key| key.to_string()).unwrap_or_default()
}
