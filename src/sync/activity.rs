//! When devices were last seen. Marks are kept in memory and written to the database every
//! `devices.activity_flush`, so a busy device costs one write per interval, not one per request.
//!
//! A mark belongs to a user's device, `(subject, device_id)`: another user who sends the same
//! device id marks nothing of the owner's (the database write only touches a device its user
//! owns). A mark is dropped one flush after it was written (so a reader that read the device's
//! row just before the write still finds the mark here), and at most [`MAX_MARKS`] are kept,
//! so a caller inventing device ids cannot grow the map.

use crate::schema::values::check_identifier;
use crate::store::devices;
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most marks kept between two flushes; later marks of new devices wait for the next
/// interval.
pub const MAX_MARKS: usize = 10_000;

#[derive(Clone, Default)]
pub struct Activity(Arc<Mutex<HashMap<(String, String), Mark>>>);

#[derive(Clone, Copy)]
struct Mark {
    at: i64,
    /// Written to the database by the last flush (and not renewed since).
    written: bool,
}

impl Activity {
    /// Records that `caller` made a request now from `device_id`, once per request: a device
    /// token's own device was marked when the token was verified.
    pub fn device_seen(&self, caller: &crate::auth::Caller, device_id: &str) {
        if caller.device_id.as_deref() != Some(device_id) {
            self.mark(device_id, &caller.subject);
        }
    }

    /// Records that `device_id`, as a device of `subject`, made a request now.
    pub fn mark(&self, device_id: &str, subject: &str) {
        if check_identifier(device_id).is_err() {
            return;
        }
        let now = chrono::Utc::now().timestamp_millis();
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = (subject.to_string(), device_id.to_string());
        if seen.len() < MAX_MARKS || seen.contains_key(&key) {
            seen.insert(
                key,
                Mark {
                    at: now,
                    written: false,
                },
            );
        }
    }

    /// The latest mark of `device_id` by its owner `subject` not yet written.
    pub fn last_seen(&self, device_id: &str, subject: &str) -> Option<i64> {
        let seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&(subject.to_string(), device_id.to_string()))
            .map(|mark| mark.at)
    }

    pub fn forget(&self, device_id: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(_, id), _| id != device_id);
    }

    /// Forgets the marks the previous flush wrote (unless renewed since) and writes the new ones.
    pub async fn flush(&self, db: &DatabaseConnection) {
        let pending: Vec<((String, String), i64)> = {
            let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
            seen.retain(|_, mark| !mark.written);
            seen.iter_mut()
                .map(|(key, mark)| {
                    mark.written = true;
                    (key.clone(), mark.at)
                })
                .collect()
        };
        for ((subject, id), at) in pending {
            if let Err(error) = devices::touch(db, &id, &subject, at).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_users_mark_leaves_the_owners_alone() {
        let activity = Activity::default();
        activity.mark("till-1", "alice");
        let alice = activity.last_seen("till-1", "alice");
        activity.mark("till-1", "mallory");
        assert_eq!(activity.last_seen("till-1", "alice"), alice);
        assert!(alice.is_some());
    }

    #[test]
    fn marks_are_bounded_and_ids_checked() {
        let activity = Activity::default();
        activity.mark(&"x".repeat(5_000_000), "mallory");
        assert_eq!(activity.0.lock().unwrap().len(), 0);
        for i in 0..MAX_MARKS + 100 {
            activity.mark(&format!("d{i}"), "mallory");
        }
        assert_eq!(activity.0.lock().unwrap().len(), MAX_MARKS);
    }
}
