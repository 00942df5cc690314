//! Opening the connection pool. SQLite files are created on first use, in WAL mode.

use super::StoreError;
use crate::config::{DatabaseConfig, redact_url};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use std::path::PathBuf;
use std::time::Duration;

/// The file of a `sqlite://PATH` (or `sqlite:PATH`) URL; `None` for other URLs and in-memory
/// databases.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

pub async fn connect(config: &DatabaseConfig) -> Result<DatabaseConnection, StoreError> {
    if let Some(file) = sqlite_path(&config.url)
        && let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|error| StoreError::CreateDir {
            dir: dir.display().to_string(),
            reason: error.to_string(),
        })?;
    }
    let mut options = ConnectOptions::new(config.url.clone());
    options
        .max_connections(config.max_connections)
        .min_connections(0)
        .connect_timeout(config.connect_timeout)
        .acquire_timeout(config.connect_timeout.max(Duration::from_secs(1)) * 2)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|options| {
            options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(60))
        });
    Database::connect(options)
        .await
        .map_err(|error| StoreError::Connect {
            url: redact_url(&config.url),
            reason: error.to_string(),
        })
}
