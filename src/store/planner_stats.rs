//! PostgreSQL plans a feed read (`_sg_seq > $1 AND _sg_seq <= $2 … ORDER BY _sg_seq LIMIT n`)
//! from the table's statistics. Right after a bulk of writes they describe a much smaller table:
//! a bootstrap of 1,000,000 rows just pushed estimated each page's range at about 1,000 rows
//! where it held 358,000, took a bitmap scan and a sort of the whole rest of the table over the
//! ordered index scan, and read 27,000 rows/s instead of 500,000 (1.3 ms a page once analyzed,
//! 100 ms before). Autovacuum analyzes within a minute or so; the gateway does not wait for it:
//! once its own inserts grew a table by a fifth since it last analyzed it (and by at least
//! 10,000 rows), it runs `ANALYZE` on that table in the background.

use super::ddl::quote;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// The fewest inserted rows that make a table worth analyzing again.
const LEAST_ROWS: u64 = 10_000;

#[derive(Default)]
struct Growth {
    /// Rows this process inserted since the table was last analyzed.
    inserted: u64,
    /// Rows counted when it was last analyzed by this process.
    analyzed: u64,
    running: bool,
}

static TABLES: LazyLock<Mutex<HashMap<String, Growth>>> = LazyLock::new(Default::default);

/// Counts `rows` new rows committed to `table`, and analyzes it when they grew it enough.
pub fn inserted(db: &DatabaseConnection, table: &str, rows: u64) {
    if rows == 0 || db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let mut tables = TABLES.lock().expect("planner stats lock");
    let growth = tables.entry(table.to_string()).or_default();
    growth.inserted += rows;
    if growth.running || growth.inserted < LEAST_ROWS.max(growth.analyzed / 5) {
        return;
    }
    growth.running = true;
    growth.analyzed += growth.inserted;
    growth.inserted = 0;
    let (db, table) = (db.clone(), table.to_string());
    tokio::spawn(async move {
        if let Err(error) = db
            .execute_unprepared(&format!("ANALYZE {}", quote(&table)))
            .await
        {
            tracing::warn!(%table, %error, "analyzing a grown table failed");
        }
        if let Some(growth) = TABLES.lock().expect("planner stats lock").get_mut(&table) {
            growth.running = false;
        }
    });
}
