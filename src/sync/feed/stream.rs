//! The live stream: every change the caller may read after a cursor, then each new one as it
//! commits, for as long as the connection and the caller's credentials last. Reads go through
//! the shared reads, so streams with the same view share one read per commit, and its events
//! are encoded once for all of them ([`stream_events`]).

use super::Feed;
use super::cursor::{Cursor, check_cursor};
use super::revocations::Revocable;
use super::stream_events;
use super::view::{Shape, View, ViewQuery};
use crate::auth::Caller;
use crate::ops::metrics::LiveStream;
use crate::schema::{CurrentSchema, Schema};
use crate::store::feed;
use crate::sync::SyncError;
use bytes::Bytes;
use futures_util::Stream;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Changes read per query while catching up.
const PAGE: u64 = 500;

/// What a stream sends.
pub enum StreamEvent {
    /// Changes as server-sent events, each with the cursor that resumes after it as its `id`
    /// (the same bytes for every stream that read the same page).
    Changes(Bytes),
    /// Nothing was sent for a heartbeat interval: a comment line, so that proxies keep the
    /// connection (and a client that left is noticed at the write).
    Heartbeat,
    /// A schema reload changed the caller's view of a table the stream reads: the client is
    /// to read these tables again (see [`SyncError::ResyncRequired`]). The stream ends here.
    ResyncRequired(SyncError),
}

/// What a stream reads and how it knows when to stop.
pub struct StreamRequest {
    /// The schema being served, asked at each read (a reload applies to open streams).
    pub schema: CurrentSchema,
    pub caller: Caller,
    pub tables: Option<Vec<String>>,
    /// The cursor of the last change the client has (an event's `id`): the stream starts after
    /// it.
    pub cursor: Cursor,
    /// How often the caller's token is checked while the stream waits (besides at once when
    /// a revocation may concern it), and a heartbeat sent when nothing else was.
    pub recheck: Duration,
    pub revocable: Revocable,
    /// Clock skew tolerated past the caller's JWT `exp`.
    pub leeway: Duration,
}

struct State {
    feed: Feed,
    db: DatabaseConnection,
    request: StreamRequest,
    cursor: i64,
    /// When the caller's credentials expire (a JWT's `exp`, a device token's lifetime), if they
    /// do.
    expires: Option<Instant>,
    /// What the stream reads, worked out again only when the schema changes.
    view: Arc<View>,
    /// Changes read and not yet sent, as events.
    ready: Option<Bytes>,
    /// The wait ended at the heartbeat: a heartbeat is due (once the credentials are checked).
    beat: bool,
    /// The last page read reached the head: wait for the watch before reading again.
    at_head: bool,
    /// A reload changed the stream's view: the stream told the client and ends.
    ended: bool,
    receiver: tokio::sync::watch::Receiver<i64>,
    /// Set when the process stops.
    closing: tokio::sync::watch::Receiver<bool>,
    next_check: Instant,
    /// Ends a wait at `next_check` (or the credentials' end). Kept from wait to wait, and
    /// moved only when its deadline does: a timer made and dropped at every wait of every
    /// stream was 7 % of the gateway's time delivering one change to thousands of them.
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// Counts the stream as open while it lives.
    _open: LiveStream,
}

impl Feed {
    /// Checks what a stream asks for — every table it names readable, its cursor issued by
    /// this database — then streams the changes after the cursor, in feed order, and each new
    /// one. The stream ends when the caller's credentials expire or are revoked, or a read fails
    /// (the client reconnects with the last `seq` it received and loses nothing).
    pub async fn stream(
        &self,
        db: &DatabaseConnection,
        request: StreamRequest,
    ) -> Result<impl Stream<Item = StreamEvent> + Send + use<>, SyncError> {
        let view = view_of(&(request.schema)(), &request)?;
        view.check(&request.cursor)?;
        // The position this replica has seen covers almost every cursor without a query
        // (thousands of streams opening at once would otherwise queue for the pool); only a
        // newer one (issued by another replica a moment ago) is checked against the database.
        let seen = self.watch.seen();
        let cursor = request.cursor.seq;
        let head = if cursor <= seen {
            seen
        } else {
            feed::head(db).await?
        };
        check_cursor(cursor, head)?;
        let next_check = Instant::now() + request.recheck;
        let state = State {
            feed: self.clone(),
            db: db.clone(),
            cursor,
            expires: expiry(&request.caller, request.leeway),
            view,
            ready: None,
            beat: false,
            at_head: false,
            ended: false,
            receiver: self.watch.subscribe(),
            closing: self.closing(),
            next_check,
            timer: Box::pin(tokio::time::sleep_until(next_check)),
            request,
            _open: LiveStream::open(),
        };
        Ok(futures_util::stream::unfold(
            state,
            |mut state| async move {
                let change = next(&mut state).await?;
                Some((change, state))
            },
        ))
    }
}

fn view_of(schema: &Arc<Schema>, request: &StreamRequest) -> Result<Arc<View>, SyncError> {
    let query = ViewQuery {
        limit: PAGE,
        tables: request.tables.clone(),
        include_deleted: true,
    };
    View::of(schema, &request.caller, &query, Shape::Change)
}

/// When a JWT's `exp` (plus the leeway), or a device token's lifetime, is reached.
fn expiry(caller: &Caller, leeway: Duration) -> Option<Instant> {
    let exp = caller.expires_at?;
    // The gateway's own clock ends a device token: no skew to tolerate.
    let leeway = if caller.device_token_hash.is_some() {
        Duration::ZERO
    } else {
        leeway
    };
    let left = exp - chrono::Utc::now().timestamp() + leeway.as_secs() as i64;
    Some(Instant::now() + Duration::from_secs(left.max(0) as u64))
}

/// The stream's view under the schema being served: `Err` with the event that ends the stream
/// when a reload changed the caller's scope in a table it reads, `Err(None)` (the stream ends)
/// when the caller may no longer read what it asked for.
fn current_view(state: &mut State) -> Result<Arc<View>, Option<StreamEvent>> {
    let schema = (state.request.schema)();
    if Arc::ptr_eq(&state.view.schema, &schema) {
        return Ok(state.view.clone());
    }
    let view = view_of(&schema, &state.request).map_err(|error| {
        tracing::warn!(%error, "live stream ended: the feed cannot be read");
        None
    })?;
    view.check(&state.view.cursor_at(state.cursor))
        .map_err(|changed| Some(StreamEvent::ResyncRequired(changed)))?;
    state.view = view.clone();
    Ok(view)
}

async fn next(state: &mut State) -> Option<StreamEvent> {
    loop {
        if state.ended {
            return None;
        }
        // Credentials first: nothing more is sent, not even changes already read, once they
        // expired or were revoked.
        let now = Instant::now();
        if state.expires.is_some_and(|at| now >= at) {
            return None;
        }
        if now >= state.next_check || state.request.revocable.concerned_now() {
            if !state.request.revocable.still_allowed().await {
                return None;
            }
            state.next_check = now + state.request.recheck;
        }
        if let Some(events) = state.ready.take() {
            state.beat = false;
            return Some(StreamEvent::Changes(events));
        }
        if std::mem::take(&mut state.beat) {
            return Some(StreamEvent::Heartbeat);
        }
        if std::mem::take(&mut state.at_head) {
            // The changes just sent reached the head as of their read, which began after the
            // position the stream had seen: nothing to read until the watch moves past it
            // (reading again at once doubled the reads of every stream a commit woke).
            if !wait(state).await {
                return None;
            }
            continue;
        }
        let seen = *state.receiver.borrow_and_update();
        let view = match current_view(state) {
            Ok(view) => view,
            Err(last) => {
                state.ended = true;
                return last;
            }
        };
        let page = match state
            .feed
            .read(&state.db, &view, state.cursor, Some(seen))
            .await
        {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "live stream ended: the feed cannot be read");
                return None;
            }
        };
        state.cursor = page.cursor;
        if !page.entries.is_empty() {
            state.ready = Some(stream_events::page_events(&page, &view));
            state.at_head = !page.has_more;
            continue;
        }
        if page.has_more {
            continue;
        }
        if !wait(state).await {
            return None;
        }
    }
}

/// Waits for a commit after the last read (or a reload), the heartbeat, a revocation that may
/// concern the caller, or the end of its credentials; `false` when the stream is to end.
async fn wait(state: &mut State) -> bool {
    let wake_at = match state.expires {
        Some(at) => at.min(state.next_check),
        None => state.next_check,
    };
    if state.timer.deadline() != wake_at {
        state.timer.as_mut().reset(wake_at);
    }
    tokio::select! {
        // In this order rather than a random one at each wait (a random number per wait of
        // every stream): the end of the process and a revocation first, so that a feed that
        // never stops moving cannot keep either from being seen. (The credentials' end and the
        // heartbeat's check are looked at by time at every turn of the loop.)
        biased;
        // The process is stopping: end the stream; the client resumes from its last id.
        _ = super::closed(&mut state.closing) => false,
        // A revocation that may concern the token: check it now, not at the heartbeat.
        _ = state.request.revocable.concerned() => {
            state.next_check = Instant::now();
            true
        }
        changed = state.receiver.changed() => changed.is_ok(),
        _ = state.timer.as_mut() => {
            state.beat = true;
            true
        }
    }
}
