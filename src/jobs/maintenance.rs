//! Database housekeeping. A long-running SQLite gateway needs its WAL truncated now and then
//! (readers can keep it from shrinking on its own) and its query planner statistics refreshed;
//! PostgreSQL gets `ANALYZE`.

use super::{JobContext, ScheduledJob};
use crate::config::MaintenanceJobConfig;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};
use std::sync::Arc;

/// The job, on `jobs.maintenance.schedule`.
pub fn job(context: &JobContext, config: &MaintenanceJobConfig) -> ScheduledJob {
    let db = context.db.clone();
    ScheduledJob {
        name: "maintenance",
        schedule: config.schedule.clone(),
        leased: true,
        run: Arc::new(move || {
            let db = db.clone();
            Box::pin(async move { run(&db).await.map_err(|e| e.to_string()) })
        }),
    }
}

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
