//! Wakes long-polling changes requests. Writers on this replica announce the position they
//! committed; a poller announces positions committed by other replicas sharing the database.

use crate::store::feed;
use sea_orm::DatabaseConnection;
use sea_orm::sqlx::postgres::{PgListener, PgPool};
use std::sync::{Arc, Weak};
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

    /// On PostgreSQL, listens for the positions other replicas' write transactions announce
    /// (`NOTIFY` on [`feed::CHANNEL`], sent at their commit) and wakes this replica's waiters at
    /// once. When the listening connection drops it reconnects; meanwhile, and always, the
    /// poller ([`FeedWatch::spawn_poller`]) catches up every `sync.poll_interval`.
    pub fn spawn_listener(&self, db: &DatabaseConnection) -> Option<tokio::task::JoinHandle<()>> {
        if db.get_database_backend() != sea_orm::DbBackend::Postgres {
            return None;
        }
        let pool = db.get_postgres_connection_pool().clone();
        let weak = Arc::downgrade(&self.0);
        Some(tokio::spawn(async move {
            loop {
                match listen(&pool, &weak).await {
                    Ok(()) => return,
                    Err(error) => tracing::warn!(
                        %error,
                        "changes feed listener: connection lost, polling until it is back"
                    ),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
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

/// Advances the watch with every announced position until the watch is gone (`Ok`) or the
/// connection fails (`Err`).
async fn listen(
    pool: &PgPool,
    watch: &Weak<watch::Sender<i64>>,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(feed::CHANNEL).await?;
    loop {
        // `try_recv` answers `None` when the connection was lost (notifications may have been
        // missed: the poller finds them).
        let Some(notification) = listener.try_recv().await? else {
            return Err(sea_orm::sqlx::Error::Protocol(
                "the listening connection was lost".into(),
            ));
        };
        let Some(sender) = watch.upgrade() else {
            return Ok(());
        };
        if let Ok(position) = notification.payload().parse::<i64>() {
            FeedWatch(sender).advance(position);
        }
    }
}
