//! The changes feed's counter. A write transaction locks the counter row before it writes and
//! stores the new value just before it commits, so positions are handed out in commit order:
//! once a reader sees position N, every write up to N has committed, also with concurrent
//! writers on PostgreSQL. On SQLite the same statement takes the write lock up front, which
//! keeps a transaction that reads first from failing with SQLITE_BUSY when it starts writing.

use super::sql::SqlBuilder;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait, Value,
};

/// Holds this process's turn to write to SQLite until dropped (after the commit).
pub type WriterTurn = Option<tokio::sync::OwnedMutexGuard<()>>;

/// SQLite has one writer at a time: writers of this process queue here, in order and without
/// polling, instead of spinning in SQLite's busy handler.
static SQLITE_WRITER: std::sync::LazyLock<std::sync::Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(Default::default);

/// Begins a transaction that will write. On SQLite it first waits for this process's turn, then
/// runs `BEGIN IMMEDIATE`, which takes the write lock up front (a deferred transaction that
/// reads first can fail with "database is locked" when it then tries to write). Keep the turn
/// until the transaction has committed.
pub async fn begin_write(
    db: &DatabaseConnection,
) -> Result<(DatabaseTransaction, WriterTurn), DbErr> {
    let turn = if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
        Some(SQLITE_WRITER.clone().lock_owned().await)
    } else {
        None
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok((txn, turn))
}

/// Locks the counter for this transaction and returns its current value.
pub async fn lock(txn: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let backend = txn.get_database_backend();
    txn.execute_raw(Statement::from_string(
        backend,
        "UPDATE syncgate_sequence SET value = value WHERE name = 'feed'",
    ))
    .await?;
    head(txn).await
}

/// Stores the last position handed out by this transaction.
pub async fn store(txn: &impl ConnectionTrait, value: i64) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(txn.get_database_backend());
    sql.push("UPDATE syncgate_sequence SET value = ")
        .bind(Value::BigInt(Some(value)), None)
        .push(" WHERE name = 'feed'");
    txn.execute_raw(sql.build()).await?;
    Ok(())
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
