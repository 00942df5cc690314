//! Whose turn it is to write, and group commit on SQLite.
//!
//! SQLite has one writer at a time: writers of this process queue on one lock, in order and
//! without polling, instead of spinning in SQLite's busy handler. A write transaction's fixed
//! costs — `BEGIN IMMEDIATE`, the feed counter's page, `COMMIT` writing the WAL — are paid
//! while every other writer waits, and each statement is a round trip to SQLite's worker thread.
//! So writers that may share a transaction (a push without hook scripts, see
//! [`Grouping::Join`]) do: when one finishes while others wait for the lock, it leaves its
//! transaction open for the next writer, which continues it; the last one commits it and tells
//! the earlier ones. Each writer keeps its own atomicity — it writes only at its end, after its
//! checks — and its own answer, which it gives only once the shared transaction committed.
//! Should one writer leave the shared transaction half-written, all of it rolls back and the
//! earlier writers are told [`GroupFailed`], on which they run their change again.
//!
//! PostgreSQL writers run concurrently (row locks order them): nothing here applies to them.

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

/// The most writers sharing one transaction: bounds the wait of the first of them.
const MOST_MEMBERS: usize = 16;

/// What the writers still waiting for their answer are told when the shared transaction ends.
type Told = oneshot::Sender<Result<(), GroupFailed>>;

/// The shared transaction did not commit: nothing of the writers in it was written.
#[derive(Debug, Clone)]
pub struct GroupFailed(pub String);

/// A transaction left open for the next writer, with the writers already in it.
struct OpenGroup {
    txn: DatabaseTransaction,
    members: Vec<Told>,
    /// Which database (see [`database_of`]): one process may hold more than one (tests).
    database: usize,
}

/// Tells databases apart: the address of their pool's connect options, which live as long as
/// the pool (and an open transaction keeps its pool).
fn database_of(db: &DatabaseConnection) -> usize {
    std::sync::Arc::as_ptr(&db.get_sqlite_connection_pool().connect_options()) as usize
}

#[derive(Default)]
struct Slot {
    open: Option<OpenGroup>,
}

/// Holds this process's turn to write to SQLite until dropped (after the commit); `None` on
/// PostgreSQL.
pub struct WriterTurn(Option<OwnedMutexGuard<Slot>>);

static SQLITE_WRITER: std::sync::LazyLock<Arc<Mutex<Slot>>> =
    std::sync::LazyLock::new(Default::default);

/// Writers waiting for the lock now: a finishing writer leaves its transaction open only when
/// one does.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// Commits of this process's SQLite writers so far (the WAL checkpoints follow them, see
/// `wal_checkpoint`).
static COMMITS: AtomicU64 = AtomicU64::new(0);

pub fn commits() -> u64 {
    COMMITS.load(Ordering::Relaxed)
}

/// Whether a writer may continue another's transaction and leave its own to the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// Its own transaction: it commits (or rolls back) alone. For writers that read rows
    /// through other connections (hook scripts), which would miss the group's uncommitted rows,
    /// and for writers that write before their end.
    Alone,
    /// May share one (SQLite only).
    Join,
}

/// A write transaction and the writers whose writes it already holds.
pub struct WriteTxn {
    pub txn: DatabaseTransaction,
    pub turn: WriterTurn,
    /// Writers earlier in the shared transaction, waiting for its end.
    members: Vec<Told>,
    database: usize,
}

async fn take_turn() -> OwnedMutexGuard<Slot> {
    /// Counts a writer in `WAITING` until it has the turn. One that gives up waiting (its
    /// request was dropped) may have been the writer another left its transaction open for:
    /// someone must still commit that.
    struct Waiting {
        turned: bool,
    }
    impl Drop for Waiting {
        fn drop(&mut self) {
            WAITING.fetch_sub(1, Ordering::SeqCst);
            if !self.turned {
                close_left_open();
            }
        }
    }
    WAITING.fetch_add(1, Ordering::SeqCst);
    let mut waiting = Waiting { turned: false };
    let slot = SQLITE_WRITER.clone().lock_owned().await;
    waiting.turned = true;
    slot
}

/// Commits, in a task of its own, a transaction left open for a writer that will not come.
fn close_left_open() {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async {
            let mut slot = take_turn().await;
            if let Some(open) = slot.open.take() {
                let _ = close(open).await; // Its writers are told.
            }
        });
    }
}

async fn begin_immediate(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Waits for this process's turn (SQLite) and begins a transaction — or, for a writer that
/// may join, continues the one the previous writer left open.
pub async fn begin(db: &DatabaseConnection, grouping: Grouping) -> Result<WriteTxn, DbErr> {
    if db.get_database_backend() != sea_orm::DbBackend::Sqlite {
        return Ok(WriteTxn {
            txn: begin_immediate(db).await?,
            turn: WriterTurn(None),
            members: Vec::new(),
            database: 0,
        });
    }
    let database = database_of(db);
    let mut slot = take_turn().await;
    if let Some(open) = slot.open.take() {
        if grouping == Grouping::Join && open.database == database {
            return Ok(WriteTxn {
                txn: open.txn,
                turn: WriterTurn(Some(slot)),
                members: open.members,
                database,
            });
        }
        // Its writers learn of a failed commit; this writer begins anew either way.
        let _ = close(open).await;
    }
    Ok(WriteTxn {
        txn: begin_immediate(db).await?,
        turn: WriterTurn(Some(slot)),
        members: Vec::new(),
        database,
    })
}

/// Takes this process's turn to write to SQLite `db` without writing: a transaction left open
/// is committed first. Nothing of this process writes until the turn is dropped.
pub async fn hold(db: &DatabaseConnection) -> WriterTurn {
    let database = database_of(db);
    let mut slot = take_turn().await;
    if let Some(open) = slot.open.take() {
        if open.database == database {
            let _ = close(open).await; // Its writers are told.
        } else {
            slot.open = Some(open);
        }
    }
    WriterTurn(Some(slot))
}

/// Commits the group's transaction and tells its writers; returns the commit's own error.
async fn close(open: OpenGroup) -> Result<(), DbErr> {
    let result = open.txn.commit().await;
    COMMITS.fetch_add(1, Ordering::Relaxed);
    let told = result
        .as_ref()
        .map(|_| ())
        .map_err(|error| GroupFailed(format!("the shared transaction did not commit: {error}")));
    for member in open.members {
        let _ = member.send(told.clone());
    }
    result
}

impl WriteTxn {
    /// The transaction and turn of a writer that began [`Grouping::Alone`].
    pub fn into_alone(self) -> (DatabaseTransaction, WriterTurn) {
        debug_assert!(
            self.members.is_empty(),
            "a writer alone shares no transaction"
        );
        (self.txn, self.turn)
    }

    /// Ends a transaction whose writes are all made: leaves it open for a writer waiting for
    /// the lock (and waits until that group commits), or commits it. Writers that shared it
    /// are told the outcome.
    pub async fn finish(self, grouping: Grouping) -> Result<(), FinishError> {
        let WriteTxn {
            txn,
            turn,
            mut members,
            database,
        } = self;
        if let WriterTurn(Some(mut slot)) = turn {
            if grouping == Grouping::Join
                && WAITING.load(Ordering::SeqCst) > 0
                && members.len() + 1 < MOST_MEMBERS
            {
                let (told, answer) = oneshot::channel();
                members.push(told);
                slot.open = Some(OpenGroup {
                    txn,
                    members,
                    database,
                });
                drop(slot);
                return match answer.await {
                    Ok(result) => result.map_err(FinishError::Group),
                    Err(_) => Err(FinishError::Group(GroupFailed(
                        "the shared transaction was dropped".into(),
                    ))),
                };
            }
            let result = close(OpenGroup {
                txn,
                members,
                database,
            })
            .await;
            drop(slot);
            return result.map_err(FinishError::Db);
        }
        txn.commit().await.map_err(FinishError::Db)
    }

    /// Ends a transaction that will not commit this writer's change. Its own writes, if it made
    /// any (`wrote`), roll back with the writers' before it, who are told to run again; without
    /// any, the transaction stays open for the next writer, or one who takes the turn only to
    /// commit it.
    pub fn abandon(self, wrote: bool) {
        let WriteTxn {
            txn,
            turn,
            members,
            database,
        } = self;
        if members.is_empty() {
            return; // Dropping the transaction rolls it back.
        }
        let WriterTurn(Some(mut slot)) = turn else {
            return;
        };
        if wrote {
            drop(txn);
            for member in members {
                let _ = member.send(Err(GroupFailed(
                    "a writer sharing the transaction failed while writing".into(),
                )));
            }
            return;
        }
        slot.open = Some(OpenGroup {
            txn,
            members,
            database,
        });
        drop(slot);
        close_left_open();
    }
}

/// Why [`WriteTxn::finish`] failed.
#[derive(Debug)]
pub enum FinishError {
    /// This writer's commit failed.
    Db(DbErr),
    /// The shared transaction this writer left to others failed: its change was not written.
    Group(GroupFailed),
}
