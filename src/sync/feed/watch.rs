//! The feed position this replica has seen, and the wake-up of every reader waiting on it.
//! The write pipeline announces the position it committed; on PostgreSQL, other replicas'
//! positions arrive through [`store::feed_listener`]; and a poller reads the head every
//! `sync.poll_interval` for anything else (a lost listening connection). The same listener
//! passes on the device tokens other replicas revoke, and wakes the import of writes other
//! connections made.

use super::revocations::{Revocations, Revoked};
use crate::store::feed;
use crate::store::feed_listener::{self, Announcement};
use sea_orm::DatabaseConnection;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{Notify, watch};

#[derive(Clone)]
pub struct FeedWatch(Arc<watch::Sender<i64>>);

impl FeedWatch {
    pub fn new(head: i64) -> Self {
        Self(Arc::new(watch::channel(head).0))
    }

    /// Announces that the feed reached `position`.
    pub fn advance(&self, position: i64) {
        self.0.send_if_modified(|current| {
            let newer = position > *current;
            if newer {
                *current = position;
            }
            newer
        });
    }

    /// Wakes every subscriber without moving the position.
    pub fn wake(&self) {
        self.0.send_modify(|_| {});
    }

    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.0.subscribe()
    }

    /// The newest position seen.
    pub fn seen(&self) -> i64 {
        *self.0.borrow()
    }

    /// Advances the watch with every position other processes announce, and passes on the
    /// revocations they announce, reconnecting when the connection drops (the poller catches up
    /// meanwhile, and every device-token reader checks its token once it is back); `None` where
    /// nothing is announced.
    pub fn spawn_listener(
        &self,
        db: &DatabaseConnection,
        revocations: &Revocations,
        external: &Arc<Notify>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if !feed_listener::announces(db) {
            return None;
        }
        let db = db.clone();
        let weak = Arc::downgrade(&self.0);
        let revocations = revocations.clone();
        let external = external.clone();
        Some(tokio::spawn(async move {
            loop {
                match listen(&db, &weak, &revocations, &external).await {
                    Ok(()) => return,
                    Err(error) => tracing::warn!(
                        %error,
                        "changes feed listener: connection lost, polling until it is back"
                    ),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                revocations.announce(Revoked::Unknown);
                external.notify_one();
            }
        }))
    }

    /// Polls the feed head every `interval` until the watch has no other owner.
    pub fn spawn_poller(
        &self,
        db: DatabaseConnection,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(sender) = weak.upgrade() else { return };
                if sender.receiver_count() == 0 {
                    continue;
                }
                match feed::head(&db).await {
                    Ok(head) => FeedWatch(sender).advance(head),
                    Err(error) => {
                        tracing::warn!(%error, "changes feed poller: cannot read the head")
                    }
                }
            }
        })
    }
}

/// Advances the watch with every announced position, and passes on revocations, until the
/// watch is gone (`Ok`) or the connection fails (`Err`).
async fn listen(
    db: &DatabaseConnection,
    watch: &Weak<watch::Sender<i64>>,
    revocations: &Revocations,
    external: &Notify,
) -> Result<(), sea_orm::DbErr> {
    let mut announcements = feed_listener::listen(db).await?;
    loop {
        let announcement = announcements.next().await?;
        let Some(sender) = watch.upgrade() else {
            return Ok(());
        };
        match announcement {
            Announcement::Position(position) => FeedWatch(sender).advance(position),
            Announcement::Revoked(ids) => revocations.announce(Revoked::Devices(ids.into())),
            Announcement::ExternalLogged => external.notify_one(),
        }
    }
}
