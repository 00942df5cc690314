//! When devices were last seen. Marks are kept in memory and written to the database every
//! `devices.activity_flush`, so a busy device costs one write per interval, not one per request.

use crate::store::devices;
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct Activity(Arc<Mutex<HashMap<String, Seen>>>);

#[derive(Clone)]
struct Seen {
    /// Only the owner's requests count: a token cannot mark another user's device.
    subject: String,
    at: i64,
    flushed: bool,
}

impl Activity {
    /// Records that `device_id`, owned by `subject`, made a request now.
    pub fn mark(&self, device_id: &str, subject: &str) {
        let now = chrono::Utc::now().timestamp_millis();
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.insert(
            device_id.to_string(),
            Seen {
                subject: subject.to_string(),
                at: now,
                flushed: false,
            },
        );
    }

    /// The latest mark of `device_id` by its owner `subject`, flushed or not.
    pub fn last_seen(&self, device_id: &str, subject: &str) -> Option<i64> {
        let seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(device_id)
            .filter(|s| s.subject == subject)
            .map(|s| s.at)
    }

    pub fn forget(&self, device_id: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(device_id);
    }

    /// Writes the marks made since the last flush.
    pub async fn flush(&self, db: &DatabaseConnection) {
        let pending: Vec<(String, Seen)> = {
            let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
            seen.iter_mut()
                .filter(|(_, s)| !s.flushed)
                .map(|(id, s)| {
                    s.flushed = true;
                    (id.clone(), s.clone())
                })
                .collect()
        };
        for (id, seen) in pending {
            if let Err(error) = devices::touch(db, &id, &seen.subject, seen.at).await {
                tracing::warn!(device = %id, %error, "cannot record when the device was last seen");
            }
        }
    }

    /// Flushes every `interval` until the last other handle is dropped.
    pub fn spawn_flusher(
        &self,
        db: DatabaseConnection,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            loop {
                ticker.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                Activity(inner).flush(&db).await;
            }
        })
    }
}
