//! An exclusive lock on `<database file>.lock`, held while a gateway migrates and applies the
//! schema to a SQLite file, so that gateways (or `syncgate migrate`) starting together on one
//! file take turns. PostgreSQL uses advisory locks instead.

use super::StoreError;
use crate::config::sqlite_path;
use std::fs::File;

pub struct FileLock(#[allow(dead_code)] Option<File>);

impl FileLock {
    /// Waits for the lock of the SQLite file of `url`; holds nothing for other databases.
    pub async fn acquire(url: &str) -> Result<Self, StoreError> {
        let Some(path) = sqlite_path(url) else {
            return Ok(Self(None));
        };
        let mut lock_path = path.into_os_string();
        lock_path.push(".lock");
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<File> {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)?;
            file.lock()?;
            Ok(file)
        })
        .await
        .map_err(|e| StoreError::CreateDir {
            dir: "lock".into(),
            reason: e.to_string(),
        })?
        .map_err(|e| StoreError::CreateDir {
            dir: "the database's .lock file".into(),
            reason: e.to_string(),
        })?;
        Ok(Self(Some(file)))
    }
}
