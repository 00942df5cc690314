//! The changes feed: the current state (or tombstone) of every row changed after a cursor that
//! the caller may read, in feed order; and the long-poll that waits for the next visible change.

use super::Feed;
use super::cursor::Cursor;
use super::revocations::Revocable;
use super::shared_read::{FeedPage, PageRequest};
use super::view::{Shape, View, ViewQuery};
use crate::auth::Caller;
use crate::ops::metrics::{LongPoll, rows_served};
use crate::schema::Schema;
use crate::sync::SyncError;
use crate::sync::types::{ChangesAnswer, ChangesPage};
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

impl Feed {
    /// One page of the feed after `cursor`; with `wait`, holds the request until a visible
    /// change commits or the time is up, and ends it (`Unauthorized`) when the caller's
    /// credentials are revoked meanwhile. It answers by the time they expire.
    pub async fn changes(
        &self,
        db: &DatabaseConnection,
        schema: &Arc<Schema>,
        caller: &Caller,
        query: &ViewQuery,
        cursor: &Cursor,
        (wait, credentials): (Duration, &mut Revocable),
    ) -> Result<ChangesAnswer, SyncError> {
        let mut deadline = Instant::now() + wait;
        if let Some(exp) = caller.expires_at {
            let left = (exp - chrono::Utc::now().timestamp()).max(0) as u64;
            deadline = deadline.min(Instant::now() + Duration::from_secs(left));
        }
        let view = View::of(schema, caller, query, Shape::Change)?;
        view.check(cursor)?;
        let _waiting = (!wait.is_zero()).then(LongPoll::open);
        let mut seen = self.watch.subscribe();
        loop {
            // Only a waiting request shares its reads (see `PageRequest::seen`).
            let position = (!wait.is_zero()).then(|| *seen.borrow_and_update());
            let page = self.read(db, &view, cursor.seq, position).await?;
            if !page.entries.is_empty() || Instant::now() >= deadline {
                let answer = answer(&view, &page);
                rows_served("changes", answer.count);
                return Ok(answer);
            }
            // Wait for any commit (this replica's, or another's seen by the poller), then look
            // again: it may be outside the caller's scope.
            tokio::select! {
                _ = tokio::time::timeout_at(deadline, seen.changed()) => {}
                // The process is stopping: answer with what there is (the client asks again).
                _ = self.closed() => deadline = Instant::now(),
                _ = credentials.concerned() => {
                    if !credentials.still_allowed().await {
                        return Err(SyncError::Unauthorized(
                            "the device token was revoked while the request waited".into(),
                        ));
                    }
                }
            }
        }
    }

    /// The page of `view` after `cursor`. A reader that had seen the feed at `seen` shares the
    /// read with every reader of the same view that had seen the same (see
    /// [`super::SharedReads`]); without `seen` it reads alone.
    pub(super) async fn read(
        &self,
        db: &DatabaseConnection,
        view: &Arc<View>,
        cursor: i64,
        seen: Option<i64>,
    ) -> Result<Arc<FeedPage>, SyncError> {
        let request = PageRequest {
            view: view.clone(),
            cursor,
            seen,
        };
        self.reads.read(db, request).await
    }
}

/// The page as the API answers it, encoded by the first request that answers with it.
fn answer(view: &View, page: &FeedPage) -> ChangesAnswer {
    let json = page.answer.get_or_init(|| {
        let answer = ChangesPage {
            changes: page.entries.iter().map(|entry| &*entry.json).collect(),
            cursor: view.cursor(page.cursor),
            has_more: page.has_more,
        };
        // Raw JSON values, a string and a flag: nothing that can fail to serialise.
        serde_json::to_vec(&answer)
            .expect("a page of raw JSON values serialises")
            .into()
    });
    ChangesAnswer {
        json: json.clone(),
        count: page.entries.len(),
    }
}
