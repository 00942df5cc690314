//! The changes feed's counter. A write transaction takes its positions from the counter row
//! (which locks the row until the transaction ends) just before it writes its rows, so positions
//! are handed out in commit order: once a reader sees position N, every write up to N has
//! committed, also with concurrent writers on PostgreSQL. SQLite writers begin `IMMEDIATE` and
//! queue in this process, so they are serialised from their first statement (and may share a
//! transaction, see `store::write_turn`).

use super::sql::SqlBuilder;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, Statement, Value};

pub use super::write_turn::{FinishError, GroupFailed, Grouping, WriteTxn, WriterTurn};

/// Begins a transaction that will write, alone (see [`begin_grouped`]). Keep the turn until
/// the transaction has committed.
pub async fn begin_write(
    db: &DatabaseConnection,
) -> Result<(DatabaseTransaction, WriterTurn), DbErr> {
    Ok(begin_grouped(db, Grouping::Alone).await?.into_alone())
}

/// Begins a transaction that will write. On SQLite it first waits for this process's turn, then
/// runs `BEGIN IMMEDIATE`, which takes the write lock up front (a deferred transaction that
/// reads first can fail with "database is locked" when it then tries to write) — or, for a
/// writer that may join, continues the transaction the previous writer left open
/// (`store::write_turn`).
pub async fn begin_grouped(db: &DatabaseConnection, grouping: Grouping) -> Result<WriteTxn, DbErr> {
    let started = std::time::Instant::now();
    let write = super::write_turn::begin(db, grouping).await?;
    crate::ops::metrics::record_pool_wait(started.elapsed());
    if write.txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        // Plan this transaction's statements with their own parameters. sqlx prepares and
        // caches statements, and PostgreSQL switches a cached statement to a generic plan after
        // five runs: planned while a table was still small, a writer's key lookups kept a
        // sequential scan as the table grew (a push into a 200,000-row table: 185 ms instead of
        // 11). Readers keep generic plans, which suit their range scans and save planning.
        //
        // `syncgate.writer` marks the transaction as the gateway's: the triggers that log writes
        // made by other connections skip its statements (`store::external`).
        write
            .txn
            .execute_unprepared(
                "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL syncgate.writer = 'gateway'",
            )
            .await?;
    }
    Ok(write)
}

/// The PostgreSQL channel on which write transactions announce the feed position they reach.
pub const CHANNEL: &str = "syncgate_feed";

/// Hands out `count` positions to this transaction and locks the counter until it ends, in one
/// statement; returns the last of them (the first is `last - count + 1`). Call it just before
/// writing, so that the lock, which orders every writer, is held as briefly as possible.
///
/// On PostgreSQL the same statement tells the other replicas the position the feed reaches
/// (`NOTIFY` on [`CHANNEL`], which PostgreSQL delivers when this transaction commits, never
/// before, and drops if it rolls back).
pub async fn reserve(txn: &impl ConnectionTrait, count: i64) -> Result<i64, DbErr> {
    let backend = txn.get_database_backend();
    let mut sql = SqlBuilder::new(backend);
    sql.push("UPDATE syncgate_sequence SET value = value + ")
        .bind(Value::BigInt(Some(count)), None)
        .push(" WHERE name = 'feed' RETURNING value");
    if backend == sea_orm::DbBackend::Postgres {
        sql.push(&format!(
            ", pg_notify('{CHANNEL}', value::text) AS notified"
        ));
    }
    let row = txn
        .query_one_raw(sql.build())
        .await?
        .ok_or_else(|| DbErr::Custom("syncgate_sequence has no `feed` row".into()))?;
    row.try_get("", "value")
}

/// The last committed position.
pub async fn head(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT value FROM syncgate_sequence WHERE name = 'feed'",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("syncgate_sequence has no `feed` row".into()))?;
    row.try_get("", "value")
}
