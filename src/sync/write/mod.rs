//! The write pipeline: every change to a row of a schema table goes through here — a pushed
//! operation, a resolved conflict, a row pulled from the hub by a snapshot, a file attached to a
//! row. Callers differ only in the options they pass.
//!
//! The stages run in one order:
//!
//! 1. **auth** — the caller, resolved by the API layer before the pipeline is entered;
//! 2. **access and scope** — the table's permissions for the action ([`Access`], found by the
//!    caller), and the stored row's scope, checked here once;
//! 3. **validate** — the values were checked and the key parsed once by the caller
//!    (`data::check_sent`, `data::key_of`); a new row is completed with defaults here;
//! 4. **before-hooks** — `validate` and `transform` of the table's hooks (webhooks too);
//! 5. **conflict** — detection by version or `updated_at`, then the table's strategy;
//! 6. **write** — the row (buffered, written with multi-row INSERTs at commit), its feed
//!    position, its outbox entry (edge) and its webhook deliveries, all in one transaction; the
//!    resulting row's scope is checked once, just before it is buffered.
//!
//! After the commit, the `after_commit` hooks run. Nothing reaches the database before
//! [`Writer::commit`] but the manual conflict queue (whose ids the answer carries), so an
//! operation that fails leaves no trace, and a writer dropped without committing rolls back.
//!
//! Concurrency: the rows a writer reads are locked (`FOR UPDATE` on PostgreSQL; SQLite's
//! writers are serialised whole, and writers begun with [`Grouping::Join`] may share one
//! transaction, see `store::write_turn`). The feed counter, which orders all writers, is taken
//! only at commit, for the writes themselves. A key the writer found absent (or presumed absent
//! without reading it, [`Writer::presume_absent`]) but that has a row by then, or an op id
//! recorded meanwhile, makes the commit fail with [`SyncError::Contended`]; the caller runs the
//! whole change again.

use super::SyncError;
use super::access::Access;
use super::feed::Feed;
use super::lookup::{Overlay, ReadsAsCaller};
use super::types::{Action, ConflictInfo};
use crate::auth::Caller;
use crate::plugins::{HookContext, HookOp, Plugins};
use crate::schema::TableDef;
use crate::store::feed::{self, FinishError, Grouping, WriteTxn};
use crate::store::moves::{self as store_moves, NewMove};
use crate::store::op_records::{self, OpOwner, OpRecord};
use crate::store::outbox::{self, NewEntry};
use crate::store::row_scope::Admission;
use crate::store::rows::{self, OnExisting, StoredRow};
use crate::store::webhooks;
use indexmap::IndexMap;
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::{Map, Value};
use tracing::Instrument;

mod apply;
mod hook_writes;
mod updated_at;
pub use apply::{new_row, not_found};
use std::collections::HashMap;

/// What a writer does besides writing rows.
#[derive(Clone)]
pub struct WriteOptions {
    /// The feed whose readers are woken when the write commits.
    pub feed: Feed,
    /// Record every applied write in the outbox for the hub (an edge's own writes).
    pub outbox: bool,
    /// Run the table's hooks and queue its webhooks (off for rows the hub already accepted).
    pub hooks: bool,
    /// How hook scripts read other rows (`lookup`, `query`) and whom they write as; without it
    /// hooks neither read nor write other rows.
    pub reads: Option<ReadsAsCaller>,
    /// Most `write` calls of one hook call (`plugins.max_hook_writes`).
    pub max_hook_writes: usize,
    /// The range of integer keys this gateway assigns (`sync.key_node`, see [`super::keys`]).
    pub key_node: u16,
}

impl WriteOptions {
    /// A caller's own writes: hooks on, `lookup` for scripts reading rows as the caller, and an
    /// outbox entry for each when `outbox` (an edge).
    pub fn for_caller(
        feed: &Feed,
        db: &DatabaseConnection,
        schema: std::sync::Arc<crate::schema::Schema>,
        caller: &Caller,
        outbox: bool,
        key_node: u16,
        max_hook_writes: usize,
    ) -> Self {
        Self {
            feed: feed.clone(),
            outbox,
            hooks: true,
            reads: Some(ReadsAsCaller {
                db: db.clone(),
                schema,
                caller: caller.clone(),
            }),
            max_hook_writes,
            key_node,
        }
    }
}

/// Who writes: the caller and the device it writes from.
pub struct Actor<'a> {
    pub caller: &'a Caller,
    pub device_id: &'a str,
}

/// How conflicts are decided for one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictRule {
    /// Detect conflicts by version or `updated_at` and let the table's strategy decide;
    /// `use_local` forces the client's row.
    Detect { use_local: bool },
    /// The change is already decided (a resolved conflict, a hub's row): apply it.
    Apply,
}

/// One change to one row, checked against the schema.
pub struct RowWrite<'a> {
    pub access: &'a Access<'a>,
    pub action: Action,
    /// The primary key, normalised.
    pub key: Value,
    /// The sent columns, checked and normalised, without `_version`.
    pub sent: &'a Map<String, Value>,
    pub base_version: Option<i64>,
    pub rule: ConflictRule,
    pub op_id: Option<&'a str>,
    /// The complete row an insert would store ([`new_row`]), when the caller made it before the
    /// transaction: on SQLite, work taken out of the part every writer waits for.
    pub new_row: Option<Map<String, Value>>,
}

/// What became of a write.
#[derive(Debug, Clone)]
pub struct Written {
    /// False when a conflict kept the server's row.
    pub applied: bool,
    /// The stored row (applied) or the server's row (conflict).
    pub row: StoredRow,
    pub conflict: Option<ConflictInfo>,
}

impl Written {
    /// Nothing was written: an update or delete that matched no row, under
    /// `missing_row = "ignore"` (the only writes answered with version 0).
    pub fn ignored(&self) -> bool {
        self.row.version == 0
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        if let Some(write) = self.write.take() {
            write.abandon(*self.wrote.get_mut());
        }
    }
}

/// A table's name and a key's JSON text: how rows are found in the writer's cache.
type Slot = (String, String);

/// One write transaction, from [`Writer::begin`] to [`Writer::commit`].
pub struct Writer<'a> {
    /// Taken by [`Writer::commit`]; a writer dropped with it abandons it.
    write: Option<WriteTxn>,
    /// For work after the commit (`store::planner_stats`).
    db: DatabaseConnection,
    /// Whether this writer may share its transaction with others (SQLite's group commit).
    grouping: Grouping,
    /// Something was written to the transaction itself (not only buffered): a shared
    /// transaction cannot be handed on without it.
    wrote: std::sync::atomic::AtomicBool,
    plugins: &'a Plugins,
    caller: &'a Caller,
    device_id: String,
    options: WriteOptions,
    /// Rows read (and locked) in this transaction; `None` records a key that had no row.
    rows: HashMap<Slot, Option<StoredRow>>,
    /// Rows to write at commit, by table, each key once (its last state).
    pending: IndexMap<String, IndexMap<String, Pending>>,
    outbox: Vec<NewEntry>,
    deliveries: Vec<(String, String)>,
    ops: Vec<(String, OpRecord)>,
    after_commit: Vec<(HookOp, HookContext)>,
    /// The next integer key to try per table, once its range was read (see [`super::keys`]).
    next_keys: HashMap<String, i64>,
    /// The rows buffered so far, for hook scripts' reads; kept from the first hook call on.
    overlay: Option<Overlay>,
    /// How deep hook writes are nested (a hook's write whose own hooks write, …).
    hook_depth: usize,
    /// While a change that hooks may widen runs: what each buffered row replaced, to undo it
    /// if the change does not end applied (see [`Checkpoint`]).
    undo: Option<Vec<Undo>>,
}

/// A row buffered while an undo log was kept: its slot and what it replaced.
struct Undo {
    table: String,
    key: String,
    replaced: Option<Pending>,
}

/// The writer's buffers at one moment, to return to when a change that hooks widened fails.
pub(super) struct Checkpoint {
    undo: usize,
    outbox: usize,
    deliveries: usize,
    after_commit: usize,
    next_keys: HashMap<String, i64>,
    /// The undo log was started by this checkpoint.
    started_log: bool,
}

impl<'a> Writer<'a> {
    /// Begins a write transaction of its own.
    pub async fn begin(
        db: &DatabaseConnection,
        plugins: &'a Plugins,
        actor: Actor<'a>,
        options: WriteOptions,
    ) -> Result<Self, SyncError> {
        Self::begin_grouped(db, plugins, actor, options, Grouping::Alone).await
    }

    /// Begins a write transaction, which a writer that may join shares with the writers queued
    /// around it (SQLite, see `store::write_turn`). Such a writer must write nothing to
    /// [`Writer::connection`] and run no hook script that reads other rows: the rows of the
    /// writers before it are not committed yet.
    pub async fn begin_grouped(
        db: &DatabaseConnection,
        plugins: &'a Plugins,
        actor: Actor<'a>,
        options: WriteOptions,
        grouping: Grouping,
    ) -> Result<Self, SyncError> {
        let write = feed::begin_grouped(db, grouping).await?;
        Ok(Self {
            write: Some(write),
            db: db.clone(),
            grouping,
            wrote: Default::default(),
            plugins,
            caller: actor.caller,
            device_id: actor.device_id.to_string(),
            options,
            rows: HashMap::new(),
            pending: IndexMap::new(),
            outbox: Vec::new(),
            deliveries: Vec::new(),
            ops: Vec::new(),
            after_commit: Vec::new(),
            next_keys: HashMap::new(),
            overlay: None,
            hook_depth: 0,
            undo: None,
        })
    }

    /// The transaction, for reads and writes that belong to it (the snapshot's outbox checks,
    /// marking a conflict resolved). Buffered rows are not in it yet: read rows through
    /// [`Writer::current`].
    pub fn connection(&self) -> &DatabaseTransaction {
        self.txn()
    }

    fn txn(&self) -> &DatabaseTransaction {
        &self
            .write
            .as_ref()
            .expect("a writer's transaction is open until it commits")
            .txn
    }

    /// The transaction, for a write made before the commit (a queued conflict).
    fn writing(&self) -> &DatabaseTransaction {
        self.wrote.store(true, std::sync::atomic::Ordering::Relaxed);
        self.txn()
    }

    /// Reads ahead (and locks) the rows of `table` with these keys, in one query per 500 keys.
    pub async fn preload(&mut self, table: &TableDef, keys: &[Value]) -> Result<(), SyncError> {
        let wanted: Vec<Value> = keys
            .iter()
            .filter(|key| !self.rows.contains_key(&slot(table, key)))
            .cloned()
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut found = rows::find_many(self.txn(), table, &wanted, true).await?;
        for key in wanted {
            let text = key.to_string();
            let row = found.remove(&text);
            // A key named twice: the first turn took the row.
            self.rows.entry((table.name.clone(), text)).or_insert(row);
        }
        Ok(())
    }

    /// Takes `key` of `table` as having no row, without reading it, unless it was read. The
    /// write finds out otherwise when it adds the rows it takes for new: fewer rows are added,
    /// and the commit fails with [`SyncError::Contended`], after which the change is to run
    /// again, reading the key.
    pub fn presume_absent(&mut self, table: &TableDef, key: &Value) {
        self.rows.entry(slot(table, key)).or_insert(None);
    }

    /// The row `key` of `table` as this transaction sees it (tombstone or not).
    pub async fn current(
        &mut self,
        table: &TableDef,
        key: &Value,
    ) -> Result<Option<StoredRow>, SyncError> {
        let slot = slot(table, key);
        if let Some(written) = self
            .pending
            .get(&table.name)
            .and_then(|rows| rows.get(&slot.1))
        {
            return Ok(Some(written.row.clone()));
        }
        if !self.rows.contains_key(&slot) {
            self.preload(table, std::slice::from_ref(key)).await?;
        }
        Ok(self.rows.get(&slot).cloned().flatten())
    }

    /// A key for a new row of `table` (`key_assigned_by = "server"`) that no row of it has,
    /// as this transaction sees it: the next integer of this gateway's range, or a random UUID.
    pub async fn assign_key(&mut self, table: &TableDef) -> Result<Value, SyncError> {
        if table.key_kind() == Some(crate::schema::model::ColumnType::Uuid) {
            loop {
                let key = Value::String(uuid::Uuid::new_v4().to_string());
                if self.current(table, &key).await?.is_none() {
                    return Ok(key);
                }
            }
        }
        let (low, high) = super::keys::range(self.options.key_node);
        let mut next = match self.next_keys.get(&table.name) {
            Some(next) => *next,
            None => rows::highest_key_between(self.txn(), table, low, high)
                .await?
                .map_or(low, |highest| highest + 1),
        };
        // A key sent earlier in this batch may sit in the range: skip it.
        while self.current(table, &Value::from(next)).await?.is_some() {
            next += 1;
        }
        if next >= high {
            return Err(SyncError::Invalid {
                field: Some(table.spec.primary_key.clone()),
                message: format!(
                    "this gateway's keys of table `{}` are used up (sync.key_node {} ends at {high})",
                    table.name, self.options.key_node
                ),
            });
        }
        self.next_keys.insert(table.name.clone(), next + 1);
        Ok(Value::from(next))
    }

    /// First outcomes already recorded for `op_ids` of this writer's caller and device.
    pub async fn op_records(
        &self,
        op_ids: &[&str],
    ) -> Result<HashMap<String, OpRecord>, SyncError> {
        if op_ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(op_records::find_many(self.txn(), self.owner(), op_ids).await?)
    }

    /// Records an operation's first outcome, written at commit.
    pub fn record_op(&mut self, op_id: &str, record: OpRecord) {
        self.ops.push((op_id.to_string(), record));
    }

    fn owner(&self) -> OpOwner<'_> {
        OpOwner {
            subject: &self.caller.subject,
            device_id: &self.device_id,
        }
    }

    /// Takes feed positions for the buffered rows, writes them with their outbox entries,
    /// webhook deliveries and op records (span `write`), commits, wakes the feed's readers, and
    /// runs the `after_commit` hooks (span `commit`). Returns the feed position after the
    /// commit.
    pub async fn commit(mut self, schema: &crate::schema::Schema) -> Result<i64, SyncError> {
        let count: usize = self.pending.values().map(IndexMap::len).sum();
        let writing = tracing::info_span!("write", rows = count);
        let position = self
            .write_pending(schema, count)
            .instrument(writing)
            .await?;
        let write = self.write.take().expect("a writer commits once");
        let committing = tracing::info_span!("commit");
        write
            .finish(self.grouping)
            .instrument(committing.clone())
            .await
            .map_err(|error| match error {
                FinishError::Db(error) => SyncError::from(error),
                // Nothing of this change was written: it runs again, like one that met a
                // concurrent writer.
                FinishError::Group(failed) => SyncError::Contended(failed.0),
            })?;
        let _committed = committing.enter();
        for (table, rows) in &self.pending {
            let new = rows.values().filter(|pending| pending.new).count();
            crate::store::planner_stats::inserted(&self.db, table, new as u64);
        }
        let (plugins, options, after_commit) = (
            self.plugins,
            self.options.clone(),
            std::mem::take(&mut self.after_commit),
        );
        options.feed.committed(position);
        for (op, ctx) in &after_commit {
            if let Some(table) = schema.table(&op.table) {
                plugins.after_commit(table, op, ctx);
            }
        }
        Ok(position)
    }

    /// Takes feed positions for the buffered rows and writes them with their outbox entries,
    /// webhook deliveries and op records; returns the feed position after them.
    async fn write_pending(
        &mut self,
        schema: &crate::schema::Schema,
        count: usize,
    ) -> Result<i64, SyncError> {
        let position = if count == 0 {
            feed::head(self.txn()).await?
        } else {
            let last = feed::reserve(self.txn(), count as i64).await?;
            let mut seq = last - count as i64;
            for pending in self.pending.values_mut().flat_map(IndexMap::values_mut) {
                seq += 1;
                pending.row.seq = seq;
            }
            last
        };
        let moves = self.moves(schema).await?;
        let txn = self.writing();
        for (name, rows) in &self.pending {
            let table = &schema.tables[name.as_str()];
            let (new, existing): (Vec<&Pending>, Vec<&Pending>) =
                rows.values().partition(|pending| pending.new);
            let new: Vec<&StoredRow> = new.iter().map(|pending| &pending.row).collect();
            let existing: Vec<&StoredRow> = existing.iter().map(|pending| &pending.row).collect();
            if rows::write_many(txn, table, &new, OnExisting::Keep).await? < new.len() as u64 {
                return Err(SyncError::Contended(format!(
                    "a row of table `{name}` that this change creates exists (another writer \
                     created it, or its key was presumed new)"
                )));
            }
            rows::write_many(txn, table, &existing, OnExisting::Replace).await?;
        }
        if !moves.is_empty() {
            store_moves::record_many(txn, &moves).await?;
        }
        let now = chrono::Utc::now().timestamp_millis();
        if !self.outbox.is_empty() {
            outbox::insert_many(txn, &self.outbox, now).await?;
        }
        for (url, body) in &self.deliveries {
            webhooks::enqueue(txn, url, body, now).await?;
        }
        if !self.ops.is_empty() {
            op_records::record_many(txn, self.owner(), &self.ops)
                .await
                .map_err(|error| match error.sql_err() {
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => SyncError::Contended(
                        "another request of this device recorded one of these op ids".into(),
                    ),
                    _ => error.into(),
                })?;
        }
        Ok(position)
    }
}

impl Writer<'_> {
    /// Whether `row` of `access.table` is in the caller's scope, its parents looked up as this
    /// transaction sees them (a parent written earlier in the same batch counts).
    pub async fn admits(
        &mut self,
        access: &Access<'_>,
        row: &Map<String, Value>,
    ) -> Result<bool, SyncError> {
        let (mut parent_scope, mut key) = match access.scope.admits(row) {
            Admission::Yes => return Ok(true),
            Admission::No => return Ok(false),
            Admission::IfParent(parent_scope, key) => (parent_scope, key.clone()),
        };
        for parent in &access.parents {
            let Some(found) = self.current(parent, &key).await? else {
                return Ok(false);
            };
            match parent_scope.scope.admits(&found.values) {
                Admission::Yes => return Ok(true),
                Admission::No => return Ok(false),
                Admission::IfParent(next, next_key) => {
                    (parent_scope, key) = (next, next_key.clone())
                }
            }
        }
        Ok(false)
    }

    /// The buffered rows whose scope columns this transaction changed, each with the values
    /// deciding its scope before and after: readers who could read those rows (or the rows
    /// scoped through them) may lose them. Call it once the rows have their feed positions.
    async fn moves(&mut self, schema: &crate::schema::Schema) -> Result<Vec<NewMove>, SyncError> {
        let mut changed = Vec::new();
        let mut new_parents: Vec<(&TableDef, Vec<StoredRow>)> = Vec::new();
        for (name, rows) in &self.pending {
            let table = &schema.tables[name.as_str()];
            let columns = schema.scope_columns(table);
            if columns.is_empty() {
                continue;
            }
            let is_parent = !children_of(schema, table).is_empty();
            let mut created = Vec::new();
            for (key, pending) in rows {
                let after = &pending.row;
                let Some(Some(before)) = self.rows.get(&(name.clone(), key.clone())) else {
                    if is_parent && !after.deleted {
                        created.push(after.clone());
                    }
                    continue;
                };
                let moved = !(before.deleted && after.deleted)
                    && columns
                        .iter()
                        .any(|column| before.values.get(column) != after.values.get(column));
                if moved {
                    changed.push((table, before.values.clone(), after.clone()));
                }
            }
            if !created.is_empty() {
                new_parents.push((table, created));
            }
        }
        // A new parent row adopts the rows already stored that name it: they enter its readers'
        // views as if it had moved there from nowhere. Only such parents are recorded, so that
        // creating parents costs nothing more when no row waits for them.
        for (table, created) in new_parents {
            let keys: Vec<Value> = created
                .iter()
                .map(|row| row.values[&table.spec.primary_key].clone())
                .collect();
            let mut adopting = std::collections::HashSet::new();
            for (child, column) in children_of(schema, table) {
                adopting.extend(store_moves::named_keys(self.txn(), child, column, &keys).await?);
            }
            for row in created {
                if adopting.contains(&row.values[&table.spec.primary_key].to_string()) {
                    changed.push((table, Map::new(), row));
                }
            }
        }
        let mut moves = Vec::with_capacity(changed.len());
        for (table, before, after) in changed {
            moves.push(NewMove {
                seq: after.seq,
                table: table.name.clone(),
                key: after.values[&table.spec.primary_key].clone(),
                version: after.version,
                old_scope: self.scope_values(schema, table, before, true).await?,
                new_scope: self
                    .scope_values(schema, table, after.values, false)
                    .await?,
            });
        }
        Ok(moves)
    }

    /// The values deciding which readers reach `row`: its scope columns, or for a row scoped
    /// through a parent, those of its chain's root, reached through the parents as they were
    /// before this transaction (`before`) or are after it. Empty when a parent is missing.
    async fn scope_values(
        &mut self,
        schema: &crate::schema::Schema,
        table: &TableDef,
        mut row: Map<String, Value>,
        before: bool,
    ) -> Result<Map<String, Value>, SyncError> {
        let mut link = table.spec.scope_from.as_ref();
        for parent in schema.parents(table) {
            let key = match link.and_then(|from| row.get(&from.column)) {
                None | Some(Value::Null) => return Ok(Map::new()),
                Some(key) => key.clone(),
            };
            let found = if before {
                self.as_read(parent, &key).await?
            } else {
                self.current(parent, &key).await?
            };
            let Some(found) = found else {
                return Ok(Map::new());
            };
            row = found.values;
            link = parent.spec.scope_from.as_ref();
        }
        let root = schema.scope_root(table);
        Ok(schema
            .scope_columns(root)
            .into_iter()
            .map(|column| {
                let value = row.get(&column).cloned().unwrap_or(Value::Null);
                (column, value)
            })
            .collect())
    }

    /// The row `key` of `table` as it was before this transaction wrote anything.
    async fn as_read(
        &mut self,
        table: &TableDef,
        key: &Value,
    ) -> Result<Option<StoredRow>, SyncError> {
        let slot = slot(table, key);
        if !self.rows.contains_key(&slot) {
            self.preload(table, std::slice::from_ref(key)).await?;
        }
        Ok(self.rows.get(&slot).cloned().flatten())
    }
}

/// The tables scoped through `table`, each with its column naming the parent.
fn children_of<'s>(
    schema: &'s crate::schema::Schema,
    table: &TableDef,
) -> Vec<(&'s TableDef, &'s str)> {
    schema
        .tables
        .values()
        .filter_map(|child| {
            let from = child.spec.scope_from.as_ref()?;
            (from.table == table.name).then_some((child, from.column.as_str()))
        })
        .collect()
}

/// A row to write at commit.
#[derive(Clone)]
struct Pending {
    row: StoredRow,
    /// The key had no row when this writer read it.
    new: bool,
}

fn slot(table: &TableDef, key: &Value) -> Slot {
    (table.name.clone(), key.to_string())
}
