//! Device tokens revoked while readers hold them: a device deleted, its token regenerated, or
//! every token of a user revoked. The device registry announces the ids here (and, on
//! PostgreSQL, to every replica through the feed's listener); a live stream or long-poll whose
//! device is named checks its token at once instead of at its next heartbeat.

use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Whether the caller may still read (its token not revoked, not expired).
pub type StillAllowed = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// What was revoked.
#[derive(Debug, Clone)]
pub enum Revoked {
    Devices(Arc<[String]>),
    /// Announcements may have been missed (a lost listening connection): every device-token
    /// reader checks its token.
    Unknown,
}

/// Where revocations are announced to this process's readers.
#[derive(Clone)]
pub struct Revocations(broadcast::Sender<Revoked>);

impl Default for Revocations {
    fn default() -> Self {
        // A reader that falls this far behind checks its token anyway (`Lagged`).
        Self(broadcast::channel(256).0)
    }
}

impl Revocations {
    pub fn announce(&self, revoked: Revoked) {
        // No receiver: no reader holds a device token now.
        let _ = self.0.send(revoked);
    }

    /// Watches for the revocation of `device`'s token; a reader without a device token (a JWT
    /// lasts until its `exp`) is never told.
    pub fn watch(&self, device: Option<String>, still_allowed: StillAllowed) -> Revocable {
        Revocable {
            receiver: device.as_ref().map(|_| self.0.subscribe()),
            device,
            still_allowed,
        }
    }
}

/// One reader's credentials: whether they still hold, and a wake-up when they may not.
pub struct Revocable {
    device: Option<String>,
    receiver: Option<broadcast::Receiver<Revoked>>,
    still_allowed: StillAllowed,
}

impl Revocable {
    /// Completes when an announcement may concern this reader's token; never for a JWT. Safe to
    /// cancel (in a `select!`): no announcement is lost in between.
    pub async fn concerned(&mut self) {
        let (Some(device), Some(receiver)) = (&self.device, &mut self.receiver) else {
            return std::future::pending().await;
        };
        loop {
            match receiver.recv().await {
                Ok(Revoked::Devices(ids)) if !ids.contains(device) => continue,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => {
                    return std::future::pending().await;
                }
            }
        }
    }

    /// Whether an announcement that may concern this reader's token has arrived since the last
    /// look, without waiting (for a reader busy sending).
    pub fn concerned_now(&mut self) -> bool {
        let (Some(device), Some(receiver)) = (&self.device, &mut self.receiver) else {
            return false;
        };
        loop {
            match receiver.try_recv() {
                Ok(Revoked::Devices(ids)) if !ids.contains(device) => continue,
                Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Whether the token still authenticates (a database hiccup does not end a reader).
    pub async fn still_allowed(&self) -> bool {
        (self.still_allowed)().await
    }
}
