//! Applying the system table migrations of `migrations/`.

use super::StoreError;
use sea_orm::DatabaseConnection;
use syncgate_migrations::{Migrator, MigratorTrait};

/// Applies every pending migration and returns the names of those applied.
pub async fn migrate(db: &DatabaseConnection) -> Result<Vec<String>, StoreError> {
    let pending = pending_migrations(db).await?;
    Migrator::up(db, None).await.map_err(StoreError::Migrate)?;
    Ok(pending)
}

/// Names of the migrations not yet applied to `db`.
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<Vec<String>, StoreError> {
    let pending = Migrator::get_pending_migrations(db)
        .await
        .map_err(StoreError::Migrate)?;
    Ok(pending.iter().map(|m| m.name().to_string()).collect())
}
