//! Opening the connection pool. SQLite files are created on first use, in WAL mode.

use super::StoreError;
use crate::config::{DatabaseConfig, redact_url, sqlite_path};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use std::time::Duration;

/// Makes a double-quoted name always a column name on this SQLite connection.
///
/// SQLite otherwise takes a double-quoted name it cannot find as a string literal. A connection
/// that last read the database before a reload added a column prepares `SELECT "id", "note" …`
/// without error, `"note"` as the text `'note'`, and sqlx keeps the column names of that prepare
/// with the cached statement: SQLite re-prepares it against the new table when it runs, but the
/// value then arrives under the name `"note"` (quotes included), and reading `note` found
/// nothing, for as long as the connection lived. Without the literal fallback, that prepare
/// fails, and SQLite reloads the schema and prepares again before answering.
fn forbid_quoted_string_literals(db: std::ptr::NonNull<libsqlite3_sys::sqlite3>) {
    use libsqlite3_sys::{SQLITE_DBCONFIG_DQS_DDL, SQLITE_DBCONFIG_DQS_DML, sqlite3_db_config};
    for option in [SQLITE_DBCONFIG_DQS_DML, SQLITE_DBCONFIG_DQS_DDL] {
        // SAFETY: `db` is an open connection held locked by the caller; the option takes an
        // int (0: off) and an optional int pointer for the previous value (none wanted).
        unsafe { sqlite3_db_config(db.as_ptr(), option, 0, std::ptr::null_mut::<i32>()) };
    }
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
                // Checkpoints run in a task of their own (`wal_checkpoint`), not in a commit.
                .pragma("wal_autocheckpoint", "0")
        })
        .map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_connect(|connection, _| {
                Box::pin(async move {
                    let mut handle = connection.lock_handle().await?;
                    forbid_quoted_string_literals(handle.as_raw_handle());
                    Ok(())
                })
            })
        });
    Database::connect(options)
        .await
        .map_err(|error| StoreError::Connect {
            url: redact_url(&config.url),
            reason: error.to_string(),
        })
}
