//! The live stream: every change the caller may read after a cursor, then each new one as it
//! commits, for as long as the connection and the caller's credentials last. Reads go through
//! [`SharedReads`], so streams with the same view share one read per commit.

use super::changes::{FeedQuery, read, view};
use super::notify::FeedWatch;
use super::shared_read::{PageEntry, SharedReads, View};
use crate::auth::Caller;
use crate::schema::Schema;
use crate::store::row_json::Shape;
use futures_util::Stream;
use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Changes read per query while catching up.
const PAGE: u64 = 500;

/// Whether the caller may still read (its token not revoked, not expired).
pub type StillAllowed = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// What a stream reads and how it knows when to stop.
pub struct StreamSource {
    pub db: DatabaseConnection,
    /// The schema being served, asked at each read (a reload applies to open streams).
    pub schema: Arc<dyn Fn() -> Arc<Schema> + Send + Sync>,
    pub caller: Caller,
    pub tables: Option<Vec<String>>,
    /// The last change the client has (its `seq`): the stream starts after it.
    pub cursor: i64,
    pub watch: FeedWatch,
    pub reads: SharedReads,
    /// How often `still_allowed` is asked while the stream waits.
    pub recheck: Duration,
    pub still_allowed: StillAllowed,
    /// When the caller's credentials expire (a JWT's `exp`), if they do.
    pub expires: Option<Instant>,
}

struct State {
    source: StreamSource,
    /// What the stream reads, worked out again only when the schema changes.
    view: Option<Arc<View>>,
    ready: VecDeque<PageEntry>,
    receiver: tokio::sync::watch::Receiver<i64>,
    next_check: Instant,
}

/// The changes after `source.cursor`, in feed order, then each new one; the stream ends when
/// the caller's credentials expire or are revoked, or a read fails (the client reconnects with
/// the last `seq` it received and loses nothing).
pub fn changes(source: StreamSource) -> impl Stream<Item = PageEntry> + Send {
    let receiver = source.watch.subscribe();
    let next_check = Instant::now() + source.recheck;
    let state = State {
        source,
        view: None,
        ready: VecDeque::new(),
        receiver,
        next_check,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        let change = next(&mut state).await?;
        Some((change, state))
    })
}

/// The stream's view under the schema being served; `None` (the stream ends) when the caller
/// may no longer read what it asked for.
fn current_view(state: &mut State) -> Option<Arc<View>> {
    let schema = (state.source.schema)();
    if let Some(view) = state
        .view
        .as_ref()
        .filter(|v| Arc::ptr_eq(&v.schema, &schema))
    {
        return Some(view.clone());
    }
    let query = FeedQuery {
        cursor: state.source.cursor,
        limit: PAGE,
        tables: state.source.tables.clone(),
        include_deleted: true,
    };
    match view(&schema, &state.source.caller, &query, Shape::Change) {
        Ok(view) => {
            state.view = Some(view.clone());
            Some(view)
        }
        Err(error) => {
            tracing::warn!(%error, "live stream ended: the feed cannot be read");
            None
        }
    }
}

async fn next(state: &mut State) -> Option<PageEntry> {
    loop {
        if let Some(change) = state.ready.pop_front() {
            return Some(change);
        }
        let now = Instant::now();
        if state.source.expires.is_some_and(|at| now >= at) {
            return None;
        }
        if now >= state.next_check {
            if !(state.source.still_allowed)().await {
                return None;
            }
            state.next_check = now + state.source.recheck;
        }
        let seen = *state.receiver.borrow_and_update();
        let view = current_view(state)?;
        let page = match read(
            &state.source.db,
            &view,
            state.source.cursor,
            Some(seen),
            &state.source.reads,
        )
        .await
        {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "live stream ended: the feed cannot be read");
                return None;
            }
        };
        state.source.cursor = page.cursor;
        if !page.entries.is_empty() {
            state.ready.extend(page.entries.iter().cloned());
            continue;
        }
        if page.has_more {
            continue;
        }
        let wake_at = match state.source.expires {
            Some(at) => at.min(state.next_check),
            None => state.next_check,
        };
        tokio::select! {
            changed = state.receiver.changed() => {
                if changed.is_err() {
                    return None;
                }
            }
            _ = tokio::time::sleep_until(wake_at) => {}
        }
    }
}
