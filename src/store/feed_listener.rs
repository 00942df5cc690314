//! The feed positions that other processes' write transactions announce when they commit
//! (PostgreSQL `NOTIFY` on [`feed::CHANNEL`], sent by [`feed::reserve`]), so that a replica wakes
//! its readers for another replica's writes at once. SQLite has no such channel: its writers are
//! this process, and a poller covers anything else.

use super::feed;
use futures_util::future::BoxFuture;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{DatabaseConnection, DbErr};

/// A source of committed feed positions.
pub trait Announcements: Send {
    /// The next position announced; an error when the connection was lost (announcements may
    /// have been missed meanwhile: the reader catches up by reading the head).
    fn next_position(&mut self) -> BoxFuture<'_, Result<i64, DbErr>>;
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
    listener.listen(feed::CHANNEL).await.map_err(failed)?;
    Ok(Box::new(PgAnnouncements(listener)))
}

struct PgAnnouncements(PgListener);

impl Announcements for PgAnnouncements {
    fn next_position(&mut self) -> BoxFuture<'_, Result<i64, DbErr>> {
        Box::pin(async move {
            loop {
                // `try_recv` answers `None` when the connection was lost.
                let notification = self
                    .0
                    .try_recv()
                    .await
                    .map_err(|error| DbErr::Custom(error.to_string()))?
                    .ok_or_else(|| DbErr::Custom("the listening connection was lost".into()))?;
                if let Ok(position) = notification.payload().parse::<i64>() {
                    return Ok(position);
                }
            }
        })
    }
}
