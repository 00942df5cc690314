//! The read side: everything that serves a reader's view from a cursor. The changes feed and its
//! long-poll (`changes`), pull (`pull`), the live stream (`stream`) — all reading pages of one
//! [`View`] through [`SharedReads`], so that readers woken by one commit with the same view share
//! one read — and the watch that wakes them ([`FeedWatch`]).
//!
//! Writers never wake readers by hand: the write pipeline calls [`Feed::committed`] when its
//! transaction has committed; positions committed by other replicas arrive through the
//! database's announcements, or the poller.

mod changes;
mod cursor;
mod pull;
mod revocations;
mod shared_read;
mod stream;
mod stream_events;
mod view;
mod watch;

pub use cursor::{Cursor, check_cursor, parse_cursor};
pub use pull::PullPage;
pub use revocations::{Revocable, Revocations, Revoked, StillAllowed};
pub use stream::{StreamEvent, StreamRequest};
pub use stream_events::{HEARTBEAT, resync_required};
pub use view::{Shape, View, ViewQuery};

use crate::store::feed;
use sea_orm::{DatabaseConnection, DbErr};
use shared_read::SharedReads;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use watch::FeedWatch;

/// The feed of one gateway process: what wakes its readers, and the reads they share.
#[derive(Clone)]
pub struct Feed {
    watch: FeedWatch,
    reads: SharedReads,
    revocations: Revocations,
    /// Notified when the database announces rows other connections wrote.
    external_logged: Arc<Notify>,
    /// Set when the process stops: live streams end and long-polls answer at once, instead of
    /// holding the graceful shutdown for `server.shutdown_timeout`.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

/// Resolves once the feed `closing` belongs to was closed (at once if it was).
async fn closed(closing: &mut tokio::sync::watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens with the feed itself.
    let _ = closing.wait_for(|closing| *closing).await;
}

/// The feed's background tasks, stopped at shutdown.
pub struct FeedTasks {
    poller: tokio::task::JoinHandle<()>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl FeedTasks {
    pub fn stop(self) {
        self.poller.abort();
        if let Some(listener) = self.listener {
            listener.abort();
        }
    }
}

impl Feed {
    /// The feed at the database's head, with its poller (every `poll_interval`) and, on
    /// PostgreSQL, its listener for other replicas' commits.
    pub async fn start(
        db: &DatabaseConnection,
        poll_interval: Duration,
    ) -> Result<(Self, FeedTasks), DbErr> {
        let watch = FeedWatch::new(feed::head(db).await?);
        let revocations = Revocations::default();
        let external_logged = Arc::new(Notify::new());
        let tasks = FeedTasks {
            poller: watch.spawn_poller(db.clone(), poll_interval),
            listener: watch.spawn_listener(db, &revocations, &external_logged),
        };
        let feed = Self {
            watch,
            reads: SharedReads::default(),
            revocations,
            external_logged,
            closing: Arc::new(tokio::sync::watch::channel(false).0),
        };
        Ok((feed, tasks))
    }

    /// Wakes every reader: a transaction of this process committed the feed up to `position`.
    pub fn committed(&self, position: i64) {
        self.watch.advance(position);
    }

    /// Where device-token revocations are announced to this process's readers.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Notified when the database announces rows written by other connections (PostgreSQL).
    pub fn external_logged(&self) -> Arc<Notify> {
        self.external_logged.clone()
    }

    /// The process is stopping: every live stream ends (its client reconnects, to another
    /// replica or to this one once it is back) and every waiting long-poll answers now.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Feed::close`] was called (at once if it was).
    async fn closed(&self) {
        closed(&mut self.closing.subscribe()).await;
    }

    /// What [`closed`] waits on, for a reader that waits many times (a live stream keeps one
    /// rather than subscribing at every wait).
    fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Wakes every reader, the position unchanged: the schema was reloaded, and a live stream
    /// whose view it changed must say so now.
    pub fn schema_changed(&self) {
        self.watch.wake();
    }
}
