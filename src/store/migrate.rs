//! Applying the system table migrations of `migrations/`.

use super::StoreError;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, TransactionTrait};
use syncgate_migrations::{Migrator, MigratorTrait};

/// Applies every pending migration and returns the names of those applied. On PostgreSQL they
/// run in one transaction under an advisory lock, so replicas starting together take turns; on
/// SQLite, gateways sharing a file take turns through [`super::FileLock`].
pub async fn migrate(db: &DatabaseConnection) -> Result<Vec<String>, StoreError> {
    if db.get_database_backend() != DbBackend::Postgres {
        let pending = pending_migrations(db).await?;
        Migrator::up(db, None).await.map_err(StoreError::Migrate)?;
        return Ok(pending);
    }
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!(
        "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
    ))
    .await?;
    let pending: Vec<String> = Migrator::get_pending_migrations(&txn)
        .await
        .map_err(StoreError::Migrate)?
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    Migrator::up(&txn, None)
        .await
        .map_err(StoreError::Migrate)?;
    txn.commit().await?;
    Ok(pending)
}

/// Advisory lock key held while migrations run ("sgmigrat" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x7367_6d69_6772_6174;

/// Names of the migrations not yet applied to `db`.
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<Vec<String>, StoreError> {
    let pending = Migrator::get_pending_migrations(db)
        .await
        .map_err(StoreError::Migrate)?;
    Ok(pending.iter().map(|m| m.name().to_string()).collect())
}
