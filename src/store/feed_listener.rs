//! What other processes announce: the feed positions their write transactions commit
//! (PostgreSQL `NOTIFY` on [`feed::CHANNEL`], sent by [`feed::reserve`]), so that a replica wakes
//! its readers for another replica's writes at once, and the device tokens they revoke
//! ([`devices::REVOKED_CHANNEL`]), and the writes of other connections the triggers logged
//! ([`external::CHANNEL`]). SQLite has no such channel: its writers are this process, and
//! a poller covers anything else.

use super::{devices, external, feed};
use futures_util::future::BoxFuture;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{DatabaseConnection, DbErr};

/// One announcement of another process.
pub enum Announcement {
    /// The feed was committed up to this position.
    Position(i64),
    /// These devices' tokens were revoked.
    Revoked(Vec<String>),
    /// Another connection wrote rows of a synced table (`store::external`'s triggers).
    ExternalLogged,
}

/// A source of announcements.
pub trait Announcements: Send {
    /// The next announcement; an error when the connection was lost (announcements may have
    /// been missed meanwhile: the reader catches up by reading the head).
    fn next(&mut self) -> BoxFuture<'_, Result<Announcement, DbErr>>;
}

/// Whether the database announces commits (PostgreSQL does; SQLite does not).
pub fn announces(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == sea_orm::DbBackend::Postgres
}

/// Listens for announcements; only for a database that [`announces`] them.
pub async fn listen(db: &DatabaseConnection) -> Result<Box<dyn Announcements>, DbErr> {
    if !announces(db) {
        return Err(DbErr::Custom(
            "this database does not announce its commits".into(),
        ));
    }
    let pool = db.get_postgres_connection_pool();
    let failed = |error: sea_orm::sqlx::Error| DbErr::Custom(error.to_string());
    let mut listener = PgListener::connect_with(pool).await.map_err(failed)?;
    listener
        .listen_all([feed::CHANNEL, devices::REVOKED_CHANNEL, external::CHANNEL])
        .await
        .map_err(failed)?;
    Ok(Box::new(PgAnnouncements(listener)))
}

struct PgAnnouncements(PgListener);

impl Announcements for PgAnnouncements {
    fn next(&mut self) -> BoxFuture<'_, Result<Announcement, DbErr>> {
        Box::pin(async move {
            loop {
                // `try_recv` answers `None` when the connection was lost.
                let notification = self
                    .0
                    .try_recv()
                    .await
                    .map_err(|error| DbErr::Custom(error.to_string()))?
                    .ok_or_else(|| DbErr::Custom("the listening connection was lost".into()))?;
                let payload = notification.payload();
                if notification.channel() == external::CHANNEL {
                    return Ok(Announcement::ExternalLogged);
                }
                if notification.channel() == devices::REVOKED_CHANNEL {
                    let ids = payload.split(',').map(String::from).collect();
                    return Ok(Announcement::Revoked(ids));
                }
                if let Ok(position) = payload.parse::<i64>() {
                    return Ok(Announcement::Position(position));
                }
            }
        })
    }
}
