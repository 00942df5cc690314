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
//! writers are serialised whole). The feed counter, which orders all writers, is taken only at
//! commit, for the writes themselves. A key the writer found absent but another writer inserted
//! meanwhile, or an op id recorded meanwhile, makes the commit fail with
//! [`SyncError::Contended`]; the caller runs the whole change again.

use super::SyncError;
use super::access::Access;
use super::data::{VERSION_FIELD, check_sent, complete_new_row, overlay};
use super::resolve::{Decision, decide, detect};
use super::types::{Action, ConflictInfo};
use crate::auth::{Caller, RowScope};
use crate::plugins::webhook::Webhook;
use crate::plugins::{HookContext, HookOp, Lookup, Plugins};
use crate::schema::TableDef;
use crate::schema::model::ConflictStrategy;
use crate::store::conflicts::{self, NewConflict};
use crate::store::feed::{self, WriterTurn};
use crate::store::ops::{self, OpOwner, OpRecord};
use crate::store::outbox::{self, NewEntry};
use crate::store::rows::{self, OnExisting, StoredRow};
use crate::store::webhooks;
use indexmap::IndexMap;
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What a writer does besides writing rows.
#[derive(Clone, Default)]
pub struct WriteOptions {
    /// Record every applied write in the outbox for the hub (an edge's own writes).
    pub outbox: bool,
    /// Run the table's hooks and queue its webhooks (off for rows the hub already accepted).
    pub hooks: bool,
    /// How hook scripts read other rows (`lookup`).
    pub lookup: Option<Lookup>,
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

/// A table's name and a key's JSON text: how rows are found in the writer's cache.
type Slot = (String, String);

/// One write transaction, from [`Writer::begin`] to [`Writer::commit`].
pub struct Writer<'a> {
    txn: DatabaseTransaction,
    _turn: WriterTurn,
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
}

impl<'a> Writer<'a> {
    /// Begins a write transaction.
    pub async fn begin(
        db: &DatabaseConnection,
        plugins: &'a Plugins,
        actor: Actor<'a>,
        options: WriteOptions,
    ) -> Result<Self, SyncError> {
        let (txn, turn) = feed::begin_write(db).await?;
        Ok(Self {
            txn,
            _turn: turn,
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
        })
    }

    /// The transaction, for reads and writes that belong to it (the snapshot's outbox checks,
    /// marking a conflict resolved). Buffered rows are not in it yet: read rows through
    /// [`Writer::current`].
    pub fn connection(&self) -> &DatabaseTransaction {
        &self.txn
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
        let mut found = rows::find_many(&self.txn, table, &wanted, true).await?;
        for key in wanted {
            let text = key.to_string();
            let row = found.remove(&text);
            // A key named twice: the first turn took the row.
            self.rows.entry((table.name.clone(), text)).or_insert(row);
        }
        Ok(())
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

    /// First outcomes already recorded for `op_ids` of this writer's caller and device.
    pub async fn op_records(
        &self,
        op_ids: &[&str],
    ) -> Result<HashMap<String, OpRecord>, SyncError> {
        if op_ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(ops::find_many(&self.txn, self.owner(), op_ids).await?)
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

    /// Runs one change through the stages after validation (see the module documentation).
    pub async fn apply(&mut self, write: RowWrite<'_>) -> Result<Written, SyncError> {
        let table = write.access.table;
        let existing = self.current(table, &write.key).await?;
        let existing = match existing {
            Some(row) if !write.access.scope.allows(&row.values) => {
                return Err(match write.action {
                    Action::Insert | Action::Upsert => SyncError::KeyTaken(format!(
                        "a row with key {} already exists in table `{}` outside your scope",
                        write.key, table.name
                    )),
                    Action::Update | Action::Delete => not_found(table, &write.key),
                });
            }
            other => other,
        };
        let Plan {
            values,
            deleted,
            version,
            server,
            conflict,
        } = self.plan(&write, existing)?;
        if let Some(server) = &server
            && server.deleted
            && deleted
        {
            // Deleting twice changes nothing: answer with the tombstone.
            return Ok(Written {
                applied: true,
                row: server.clone(),
                conflict: None,
            });
        }
        let (values, hook_op) = self
            .before_hooks(&write, values, server.as_ref(), deleted)
            .await?;
        let (values, version) = match conflict {
            None => (values, version),
            Some(reason) => {
                let server = server.as_ref().expect("a conflict has a server row");
                match self.settle(&write, server, &values, reason).await? {
                    Settled::Apply(values) => (values, version),
                    Settled::Kept(info) => {
                        return Ok(Written {
                            applied: false,
                            row: server.clone(),
                            conflict: Some(info),
                        });
                    }
                }
            }
        };
        if !deleted {
            check_in_scope(write.access, &values, self.caller)?;
        }
        let row = StoredRow {
            values,
            version,
            // Handed out at commit.
            seq: 0,
            deleted,
            changed_at: chrono::Utc::now().timestamp_millis(),
        };
        self.buffer(table, &write.key, &row, hook_op);
        Ok(Written {
            applied: true,
            row,
            conflict: None,
        })
    }

    /// What the write would store, and whether it conflicts with the stored row.
    fn plan(&self, write: &RowWrite<'_>, existing: Option<StoredRow>) -> Result<Plan, SyncError> {
        let table = write.access.table;
        let permissions = write.access.permissions;
        let detect_conflicts = matches!(write.rule, ConflictRule::Detect { .. });
        let plan = match (write.action, existing) {
            (Action::Delete, None) if write.rule == ConflictRule::Apply => {
                // A hub's tombstone of a row this gateway never had.
                Plan {
                    values: complete_new_row(table, write.sent)?,
                    deleted: true,
                    version: 1,
                    server: None,
                    conflict: None,
                }
            }
            (Action::Update | Action::Delete, None) => return Err(not_found(table, &write.key)),
            (Action::Delete, Some(server)) => {
                require(permissions.delete, self.caller, "delete", table)?;
                let conflict = if detect_conflicts && !server.deleted {
                    detect(table, write.base_version, write.sent, &server)
                } else {
                    None
                };
                Plan {
                    values: server.values.clone(),
                    deleted: true,
                    version: server.version + 1,
                    conflict,
                    server: Some(server),
                }
            }
            (_, None) => {
                require(permissions.create, self.caller, "create", table)?;
                Plan {
                    values: self.new_row(write)?,
                    deleted: false,
                    version: 1,
                    server: None,
                    conflict: None,
                }
            }
            (Action::Insert | Action::Upsert, Some(tombstone)) if tombstone.deleted => {
                // A deleted key used again: a new life of the row, with a newer version.
                require(permissions.create, self.caller, "create", table)?;
                Plan {
                    values: self.new_row(write)?,
                    deleted: false,
                    version: tombstone.version + 1,
                    server: Some(tombstone),
                    conflict: None,
                }
            }
            (_, Some(server)) => {
                require(permissions.update, self.caller, "update", table)?;
                let merge = table.spec.conflict == ConflictStrategy::Merge;
                let conflict = if !detect_conflicts {
                    None
                } else if server.deleted {
                    Some(format!("the row was deleted (version {})", server.version))
                } else if write.action == Action::Insert {
                    Some("a row with this key already exists".to_string())
                } else {
                    detect(table, write.base_version, write.sent, &server)
                };
                Plan {
                    values: overlay(&server.values, write.sent, merge),
                    deleted: false,
                    version: server.version + 1,
                    conflict,
                    server: Some(server),
                }
            }
        };
        Ok(plan)
    }

    /// A complete new row: scope columns filled from the caller's claims when not sent.
    fn new_row(&self, write: &RowWrite<'_>) -> Result<Map<String, Value>, SyncError> {
        if let RowScope::Equals {
            column,
            value: Some(value),
        } = &write.access.scope
            && !write.sent.contains_key(column)
        {
            let mut sent = write.sent.clone();
            sent.insert(column.clone(), value.clone());
            return complete_new_row(write.access.table, &sent);
        }
        complete_new_row(write.access.table, write.sent)
    }

    /// Runs the table's `validate` and `transform` hooks; returns the row to store and what the
    /// `after_commit` hooks will see.
    async fn before_hooks(
        &self,
        write: &RowWrite<'_>,
        values: Map<String, Value>,
        server: Option<&StoredRow>,
        deleted: bool,
    ) -> Result<(Map<String, Value>, Option<HookOp>), SyncError> {
        let table = write.access.table;
        // Tables without hooks skip building what only hooks read, on every write.
        if !self.options.hooks || table.spec.hooks.is_empty() {
            return Ok((values, None));
        }
        let action = if deleted {
            Action::Delete
        } else {
            write.action
        };
        let hook_op = HookOp {
            action: action.name().into(),
            table: table.name.clone(),
            key: write.key.clone(),
            data: write.sent.clone(),
            row: values,
            current: server.filter(|s| !s.deleted).map(|s| s.values.clone()),
            op_id: write.op_id.map(String::from),
        };
        let ctx = self.hook_context(table, action.name());
        let row = self
            .plugins
            .before_write(table, hook_op.clone(), &ctx)
            .await?;
        let row = if deleted {
            row
        } else {
            checked_hook_row(write, row)?
        };
        Ok((row, Some(hook_op)))
    }

    /// The table's strategy applied to a conflicting write.
    async fn settle(
        &self,
        write: &RowWrite<'_>,
        server: &StoredRow,
        candidate: &Map<String, Value>,
        reason: String,
    ) -> Result<Settled, SyncError> {
        let table = write.access.table;
        let use_local = write.rule == (ConflictRule::Detect { use_local: true });
        if table.spec.conflict == ConflictStrategy::Hook
            && !use_local
            && write.action != Action::Delete
        {
            let ctx = self.hook_context(table, write.action.name());
            let winner = self
                .plugins
                .on_conflict(table, &server.to_client(), candidate, &ctx)?;
            return match winner {
                Some(mut winner) => {
                    winner.remove(VERSION_FIELD);
                    Ok(Settled::Apply(checked_hook_row(write, winner)?))
                }
                None => Ok(Settled::Kept(conflict_info(table, reason, None))),
            };
        }
        match decide(table, use_local, write.sent, server) {
            Decision::Apply => Ok(Settled::Apply(candidate.clone())),
            Decision::Keep => Ok(Settled::Kept(conflict_info(table, reason, None))),
            Decision::Queue => {
                let mut client = candidate.clone();
                if write.action == Action::Delete {
                    client.insert("_deleted".into(), Value::Bool(true));
                }
                let id = conflicts::insert(
                    &self.txn,
                    NewConflict {
                        table: &table.name,
                        key: &write.key,
                        server_row: &server.to_client(),
                        client_row: &client,
                        server_version: server.version,
                        base_version: write.base_version,
                        device_id: &self.device_id,
                        subject: &self.caller.subject,
                    },
                )
                .await?;
                Ok(Settled::Kept(conflict_info(table, reason, Some(id))))
            }
        }
    }

    /// Buffers the row for the commit, with its outbox entry and webhook deliveries.
    fn buffer(&mut self, table: &TableDef, key: &Value, row: &StoredRow, hook_op: Option<HookOp>) {
        if self.options.outbox {
            self.outbox.push(NewEntry {
                table: table.name.clone(),
                key: key.clone(),
                action: if row.deleted { "delete" } else { "upsert" },
                data: Value::Object(row.values.clone()),
                subject: self.caller.subject.clone(),
                branch: self.caller.branch_text(),
                device_id: self.device_id.clone(),
            });
        }
        if let Some(hook_op) = hook_op {
            let committed = HookOp {
                row: row.values.clone(),
                ..hook_op
            };
            let ctx = self.hook_context(table, &committed.action);
            for webhook in self.plugins.webhooks(table) {
                let body = Webhook::after_commit_body(&committed, &ctx);
                self.deliveries.push((webhook.url.clone(), body));
            }
            self.after_commit.push((committed, ctx));
        }
        // The row is found here from now on (see `current`), not in `rows`.
        let key_text = key.to_string();
        let new = match self
            .pending
            .get(&table.name)
            .and_then(|rows| rows.get(&key_text))
        {
            Some(earlier) => earlier.new,
            None => matches!(
                self.rows.get(&(table.name.clone(), key_text.clone())),
                Some(None)
            ),
        };
        self.pending.entry(table.name.clone()).or_default().insert(
            key_text,
            Pending {
                row: row.clone(),
                new,
            },
        );
    }

    fn hook_context(&self, table: &TableDef, action: &str) -> HookContext {
        HookContext {
            user: self.caller.subject.clone(),
            role: self.caller.role.clone(),
            branch: self.caller.branch.clone(),
            device: self.device_id.clone(),
            table: table.name.clone(),
            action: action.to_string(),
            now: crate::schema::values::format_timestamp(chrono::Utc::now()),
            lookup: self.options.lookup.clone(),
        }
    }

    /// Takes feed positions for the buffered rows, writes them with their outbox entries,
    /// webhook deliveries and op records, commits, and runs the `after_commit` hooks. Returns
    /// the feed position after the commit.
    pub async fn commit(mut self, schema: &crate::schema::Schema) -> Result<i64, SyncError> {
        let count: usize = self.pending.values().map(IndexMap::len).sum();
        let position = if count == 0 {
            feed::head(&self.txn).await?
        } else {
            let last = feed::reserve(&self.txn, count as i64).await?;
            let mut seq = last - count as i64;
            for pending in self.pending.values_mut().flat_map(IndexMap::values_mut) {
                seq += 1;
                pending.row.seq = seq;
            }
            last
        };
        let txn = &self.txn;
        for (name, rows) in &self.pending {
            let table = &schema.tables[name.as_str()];
            let (new, existing): (Vec<&Pending>, Vec<&Pending>) =
                rows.values().partition(|pending| pending.new);
            let new: Vec<&StoredRow> = new.iter().map(|pending| &pending.row).collect();
            let existing: Vec<&StoredRow> = existing.iter().map(|pending| &pending.row).collect();
            if rows::write_many(txn, table, &new, OnExisting::Keep).await? < new.len() as u64 {
                return Err(SyncError::Contended(format!(
                    "another writer created a row of table `{name}` that this change creates"
                )));
            }
            rows::write_many(txn, table, &existing, OnExisting::Replace).await?;
        }
        let now = chrono::Utc::now().timestamp_millis();
        if !self.outbox.is_empty() {
            outbox::insert_many(txn, &self.outbox, now).await?;
        }
        for (url, body) in &self.deliveries {
            webhooks::enqueue(txn, url, body, now).await?;
        }
        if !self.ops.is_empty() {
            ops::record_many(txn, self.owner(), &self.ops)
                .await
                .map_err(|error| match error.sql_err() {
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => SyncError::Contended(
                        "another request of this device recorded one of these op ids".into(),
                    ),
                    _ => error.into(),
                })?;
        }
        let Writer {
            txn,
            _turn,
            plugins,
            after_commit,
            ..
        } = self;
        txn.commit().await?;
        drop(_turn);
        for (op, ctx) in &after_commit {
            if let Some(table) = schema.table(&op.table) {
                plugins.after_commit(table, op, ctx);
            }
        }
        Ok(position)
    }
}

/// A row to write at commit.
struct Pending {
    row: StoredRow,
    /// The key had no row when this writer read it.
    new: bool,
}

/// What a write would store before hooks and conflict rules had their say.
struct Plan {
    values: Map<String, Value>,
    deleted: bool,
    version: i64,
    /// The stored row the write replaces, when there is one.
    server: Option<StoredRow>,
    /// Why the write conflicts with `server`, when it does.
    conflict: Option<String>,
}

enum Settled {
    Apply(Map<String, Value>),
    Kept(ConflictInfo),
}

fn slot(table: &TableDef, key: &Value) -> Slot {
    (table.name.clone(), key.to_string())
}

fn conflict_info(table: &TableDef, reason: String, conflict_id: Option<i64>) -> ConflictInfo {
    ConflictInfo {
        strategy: table.spec.conflict.name().into(),
        resolution: if conflict_id.is_some() {
            "queued"
        } else {
            "server_kept"
        }
        .into(),
        reason,
        conflict_id,
    }
}

pub fn not_found(table: &TableDef, key: &Value) -> SyncError {
    SyncError::RowNotFound {
        table: table.name.clone(),
        key: key.to_string(),
    }
}

fn require(
    granted: bool,
    caller: &Caller,
    operation: &str,
    table: &TableDef,
) -> Result<(), SyncError> {
    if granted {
        Ok(())
    } else {
        Err(SyncError::Forbidden(format!(
            "your role `{}` may not {operation} rows of table `{}`",
            caller.role, table.name
        )))
    }
}

fn check_in_scope(
    access: &Access<'_>,
    row: &Map<String, Value>,
    caller: &Caller,
) -> Result<(), SyncError> {
    if access.scope.allows(row) {
        return Ok(());
    }
    let column = match &access.scope {
        RowScope::Equals { column, .. } => column.as_str(),
        RowScope::All => "",
    };
    Err(SyncError::Forbidden(format!(
        "the row would be outside your scope: role `{}` may only write rows whose `{column}` \
         matches your token",
        caller.role
    )))
}

/// A row a hook returned: checked again against the schema, with every column present and the
/// primary key unchanged.
fn checked_hook_row(
    write: &RowWrite<'_>,
    row: Map<String, Value>,
) -> Result<Map<String, Value>, SyncError> {
    let table = write.access.table;
    let checked = check_sent(table, row)?;
    let complete = complete_new_row(table, &checked)?;
    if complete.get(&table.spec.primary_key) != Some(&write.key) {
        return Err(SyncError::invalid(
            &table.spec.primary_key,
            "a hook may not change the row's primary key",
        ));
    }
    Ok(complete)
}
