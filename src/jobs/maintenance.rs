//! Database housekeeping. A long-running SQLite gateway needs its WAL truncated now and then
//! (readers can keep it from shrinking on its own) and its query planner statistics refreshed;
//! PostgreSQL gets `ANALYZE`.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};

pub async fn run(db: &DatabaseConnection) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared("ANALYZE").await?;
        }
        _ => {
            db.execute_unprepared("PRAGMA optimize").await?;
            db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                .await?;
        }
    }
    tracing::debug!("database maintenance done");
    Ok(())
}
