//! SQLite's WAL checkpoints, out of the writers' way. By itself SQLite checkpoints in the commit
//! that takes the WAL past 1,000 pages, while every other writer of this process waits for its
//! turn: under a steady push that commit took milliseconds longer than the others. The gateway's
//! connections turn that off (`wal_autocheckpoint = 0`, see `connect`) and this task
//! checkpoints instead, whenever writes committed since its last round: `PASSIVE` beside the
//! writers (it copies what no reader still needs; it neither waits for writers nor makes them
//! wait), then once more holding the writers' turn, which copies only what was committed
//! meanwhile. Only a WAL copied whole starts again from its beginning at the next
//! write: without that second step it grew without end under a steady push (290 MB in 8 s).

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use std::time::Duration;

/// How often the task looks for new commits.
const ROUND: Duration = Duration::from_millis(200);

/// Starts checkpointing `db` when it is SQLite; abort the task at shutdown (the last connection
/// to close checkpoints what is left).
pub fn spawn(db: &DatabaseConnection) -> Option<tokio::task::JoinHandle<()>> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let db = db.clone();
    Some(tokio::spawn(async move {
        let mut seen = super::write_turn::commits();
        loop {
            tokio::time::sleep(ROUND).await;
            let now = super::write_turn::commits();
            if now == seen {
                continue;
            }
            seen = now;
            if let Err(error) = checkpoint(&db).await {
                tracing::warn!(%error, "checkpointing the SQLite WAL failed; trying again");
            }
        }
    }))
}

async fn checkpoint(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    // Holding the turn every round rather than once the WAL is large: the writers then wait for
    // a copy of the ~200 ms committed meanwhile (p99 of a 4 × 100-row push 11 ms), not for a
    // large one (24 ms at 40 MB).
    if passive(db).await? > 0 {
        let _turn = super::write_turn::hold(db).await;
        passive(db).await?;
    }
    Ok(())
}

/// Runs a `PASSIVE` checkpoint; returns the pages the WAL holds.
async fn passive(db: &DatabaseConnection) -> Result<i64, sea_orm::DbErr> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA wal_checkpoint(PASSIVE)",
        ))
        .await?;
    Ok(row
        .and_then(|row| row.try_get::<i64>("", "log").ok())
        .unwrap_or(0))
}
