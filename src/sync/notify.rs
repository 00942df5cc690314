//! Wakes long-polling changes requests. Writers on this replica announce the position they
//! committed; a poller announces positions committed by other replicas sharing the database.

use crate::store::feed;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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

    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.0.subscribe()
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
