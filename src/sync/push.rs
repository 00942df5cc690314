//! Applying a batch of operations: atomically (all or nothing) or one by one, each checked
//! against the schema, the caller's permissions and scope, and the table's conflict rules.

use super::SyncError;
use super::access::{Access, access};
use super::data::{VERSION_FIELD, check_sent, complete_new_row, key_of, overlay};
use super::resolve::{Decision, decide, detect};
use super::types::{
    Action, ConflictInfo, OpError, OpResult, OpStatus, Operation, PushOutcome, Resolve, RowObject,
};
use crate::auth::{Caller, RowScope};
use crate::plugins::webhook::Webhook;
use crate::plugins::{HookContext, HookOp, Plugins};
use crate::schema::model::ConflictStrategy;
use crate::schema::{Schema, TableDef};
use crate::store::conflicts::{self, NewConflict};
use crate::store::rows::{self, StoredRow};
use crate::store::webhooks;
use crate::store::{feed, ops, outbox};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// A push request, as the core sees it.
pub struct PushBatch {
    pub device_id: String,
    pub atomic: bool,
    pub operations: Vec<Operation>,
    /// How hook scripts read other rows (`lookup`).
    pub lookup: Option<crate::plugins::Lookup>,
    /// On an edge: record every applied write in the outbox for the hub.
    pub outbox: bool,
}

/// An atomic batch that failed: the operation at fault and why. Nothing was written.
#[derive(Debug)]
pub struct PushFailure {
    pub index: usize,
    pub op_id: Option<String>,
    pub table: String,
    pub error: SyncError,
}

/// Applies `batch` for `caller`. Returns the outcome and the feed position it committed.
pub async fn push(
    db: &DatabaseConnection,
    schema: &Schema,
    plugins: &Plugins,
    caller: &Caller,
    batch: &PushBatch,
) -> Result<(PushOutcome, i64), PushFailure> {
    let whole = |error: SyncError| PushFailure {
        index: 0,
        op_id: None,
        table: String::new(),
        error,
    };
    if batch.device_id.trim().is_empty() {
        return Err(whole(SyncError::invalid(
            "device_id",
            "`device_id` must not be empty",
        )));
    }
    let (txn, _turn) = feed::begin_write(db).await.map_err(|e| whole(e.into()))?;
    let head = feed::lock(&txn).await.map_err(|e| whole(e.into()))?;
    let mut context = Context {
        schema,
        plugins,
        caller,
        device_id: &batch.device_id,
        seq: head,
        committed: Vec::new(),
        lookup: batch.lookup.clone(),
        outbox: batch.outbox,
        rows: HashMap::new(),
        replays: HashMap::new(),
        buffered: batch.atomic.then(Buffered::default),
    };
    context
        .read_ahead(&txn, &batch.operations)
        .await
        .map_err(whole)?;
    let mut results = Vec::with_capacity(batch.operations.len());
    for (index, operation) in batch.operations.iter().enumerate() {
        let outcome = if batch.atomic {
            apply(&txn, &mut context, index, operation).await
        } else {
            let savepoint = txn.begin().await.map_err(|e| whole(e.into()))?;
            let committed_before = context.committed.len();
            let outcome = apply(&savepoint, &mut context, index, operation).await;
            if outcome.is_err() {
                context.committed.truncate(committed_before);
            }
            let finished = if outcome.is_ok() {
                savepoint.commit().await
            } else {
                savepoint.rollback().await
            };
            finished.map_err(|e| whole(e.into()))?;
            outcome
        };
        match outcome {
            Ok(result) => results.push(result),
            Err(SyncError::Db(error)) if batch.atomic || !is_row_level(&error) => {
                return Err(PushFailure {
                    index,
                    op_id: operation.op_id.clone(),
                    table: operation.table.clone(),
                    error: SyncError::Db(error),
                });
            }
            Err(error) if batch.atomic => {
                return Err(PushFailure {
                    index,
                    op_id: operation.op_id.clone(),
                    table: operation.table.clone(),
                    error,
                });
            }
            Err(error) => results.push(error_result(index, operation, &error)),
        }
    }
    if let Some(buffered) = context.buffered.take() {
        flush(&txn, schema, &batch.device_id, buffered)
            .await
            .map_err(|e| whole(e.into()))?;
    }
    if context.seq > head {
        feed::store(&txn, context.seq)
            .await
            .map_err(|e| whole(e.into()))?;
    }
    txn.commit().await.map_err(|e| whole(e.into()))?;
    for (table, op, hook_ctx) in &context.committed {
        if let Some(table) = schema.table(table) {
            plugins.after_commit(table, op, hook_ctx);
        }
    }
    let position = context.seq;
    Ok((split(results, position), position))
}

/// Writes the buffered new rows (table by table, in order) and op results.
async fn flush(
    txn: &impl ConnectionTrait,
    schema: &Schema,
    device_id: &str,
    buffered: Buffered,
) -> Result<(), sea_orm::DbErr> {
    let mut by_table: Vec<(&str, Vec<&StoredRow>)> = Vec::new();
    for (table, row) in &buffered.inserts {
        match by_table.iter_mut().find(|(name, _)| name == table) {
            Some((_, rows)) => rows.push(row),
            None => by_table.push((table, vec![row])),
        }
    }
    for (table, rows) in by_table {
        rows::insert_many(txn, &schema.tables[table], &rows).await?;
    }
    ops::record_many(txn, device_id, &buffered.ops).await
}

/// A database error that concerns one row (a constraint) rather than the connection.
fn is_row_level(error: &sea_orm::DbErr) -> bool {
    error.sql_err().is_some()
}

fn split(results: Vec<OpResult>, position: i64) -> PushOutcome {
    let mut outcome = PushOutcome {
        success: true,
        applied: Vec::new(),
        conflicts: Vec::new(),
        errors: Vec::new(),
        cursor: position.to_string(),
    };
    for result in results {
        match result.status {
            OpStatus::Applied => outcome.applied.push(result),
            OpStatus::Conflict => outcome.conflicts.push(result),
            OpStatus::Error => {
                outcome.success = false;
                outcome.errors.push(result);
            }
        }
    }
    outcome
}

fn error_result(index: usize, operation: &Operation, error: &SyncError) -> OpResult {
    OpResult {
        index: index as u32,
        op_id: operation.op_id.clone(),
        table: operation.table.clone(),
        key: None,
        status: OpStatus::Error,
        version: None,
        deleted: false,
        row: None,
        conflict: None,
        error: Some(OpError {
            code: error.code().into(),
            message: match error {
                SyncError::Db(_) => "the database refused this operation".into(),
                other => other.to_string(),
            },
            field: error.field().map(String::from),
        }),
        replayed: false,
    }
}

struct Context<'a> {
    schema: &'a Schema,
    plugins: &'a Plugins,
    caller: &'a Caller,
    device_id: &'a str,
    /// Last feed position handed out in this transaction.
    seq: i64,
    /// Writes whose `after_commit` hooks run once the transaction commits.
    committed: Vec<(String, HookOp, HookContext)>,
    lookup: Option<crate::plugins::Lookup>,
    outbox: bool,
    /// Rows read ahead for the batch and rows written by it, by table and key JSON; `None`
    /// records a key known to have no row.
    rows: HashMap<(String, String), Option<StoredRow>>,
    /// First results of op ids already applied, read ahead for the batch.
    replays: HashMap<String, Value>,
    /// In an atomic batch, new rows and op results are written together at the end.
    buffered: Option<Buffered>,
}

/// Writes of an atomic batch, flushed with multi-row INSERTs before the commit.
#[derive(Default)]
struct Buffered {
    inserts: Vec<(String, StoredRow)>,
    /// Position in `inserts` of each buffered row, by table and key JSON.
    positions: HashMap<(String, String), usize>,
    ops: Vec<(String, Value)>,
}

impl Context<'_> {
    /// The row `key` of `table`: from what the batch read ahead or wrote, else the database.
    async fn find_row(
        &mut self,
        txn: &impl ConnectionTrait,
        table: &TableDef,
        key: &Value,
    ) -> Result<Option<StoredRow>, SyncError> {
        let slot = (table.name.clone(), key.to_string());
        if let Some(known) = self.rows.get(&slot) {
            return Ok(known.clone());
        }
        let found = rows::find(txn, table, key).await?;
        self.rows.insert(slot, found.clone());
        Ok(found)
    }

    /// Reads ahead every row and op id the batch names, in one query per table.
    async fn read_ahead(
        &mut self,
        txn: &impl ConnectionTrait,
        operations: &[Operation],
    ) -> Result<(), SyncError> {
        let op_ids: Vec<&str> = operations
            .iter()
            .filter_map(|op| op.op_id.as_deref())
            .collect();
        if !op_ids.is_empty() {
            self.replays = ops::find_many(txn, self.device_id, &op_ids).await?;
        }
        let mut keys: HashMap<&str, Vec<Value>> = HashMap::new();
        for operation in operations {
            let Some(table) = self.schema.table(&operation.table) else {
                continue;
            };
            let pk = &table.spec.primary_key;
            if let Some(key) = operation.data.get(pk)
                && crate::schema::values::check_value(&table.spec.columns[pk], key).is_ok()
                && !key.is_null()
            {
                let key = crate::schema::values::normalize(&table.spec.columns[pk], key.clone());
                keys.entry(table.name.as_str()).or_default().push(key);
            }
        }
        for (name, keys) in keys {
            let table = &self.schema.tables[name];
            let mut found = rows::find_many(txn, table, &keys).await?;
            for key in keys {
                let text = key.to_string();
                let row = found.remove(&text);
                self.rows.entry((name.to_string(), text)).or_insert(row);
            }
        }
        Ok(())
    }

    fn next_seq(&mut self) -> i64 {
        self.seq += 1;
        self.seq
    }

    fn hook_context(&self, table: &TableDef, action: &str) -> HookContext {
        HookContext {
            user: self.caller.subject.clone(),
            role: self.caller.role.clone(),
            branch: self.caller.branch.clone(),
            device: self.device_id.to_string(),
            table: table.name.clone(),
            action: action.to_string(),
            now: crate::schema::values::format_timestamp(chrono::Utc::now()),
            lookup: self.lookup.clone(),
        }
    }
}

/// Records an applied write for the hub, in the write's transaction (edges only).
pub async fn record_outbox(
    txn: &impl ConnectionTrait,
    table: &TableDef,
    key: &Value,
    row: &StoredRow,
    caller: &Caller,
    device_id: &str,
) -> Result<(), SyncError> {
    let data = Value::Object(row.values.clone());
    let entry = outbox::NewEntry {
        table: &table.name,
        key,
        action: if row.deleted { "delete" } else { "upsert" },
        data: &data,
        subject: &caller.subject,
        branch: caller.branch_text(),
        device_id,
    };
    outbox::insert(txn, entry, chrono::Utc::now().timestamp_millis()).await?;
    Ok(())
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Insert => "insert",
        Action::Update => "update",
        Action::Upsert => "upsert",
        Action::Delete => "delete",
    }
}

async fn apply(
    txn: &impl ConnectionTrait,
    context: &mut Context<'_>,
    index: usize,
    operation: &Operation,
) -> Result<OpResult, SyncError> {
    let replay = match &operation.op_id {
        Some(op_id) if context.replays.contains_key(op_id) => context.replays.get(op_id).cloned(),
        Some(op_id) if context.buffered.is_none() => {
            ops::find(txn, context.device_id, op_id).await?
        }
        _ => None,
    };
    if let Some(stored) = replay {
        let mut result: OpResult = serde_json::from_value(stored).map_err(|error| {
            SyncError::Db(sea_orm::DbErr::Custom(format!("stored op result: {error}")))
        })?;
        result.index = index as u32;
        result.replayed = true;
        return Ok(result);
    }
    let access = access(context.schema, context.caller, &operation.table)?;
    let sent = check_sent(access.table, &operation.data)?;
    let key = key_of(access.table, &sent)?;
    let base_version = operation
        .base_version
        .or_else(|| operation.data.get(VERSION_FIELD).and_then(Value::as_i64));
    let existing = context.find_row(txn, access.table, &key).await?;
    let existing = match existing {
        Some(row) if !access.scope.allows(&row.values) => {
            return Err(match operation.action {
                Action::Insert | Action::Upsert => SyncError::KeyTaken(format!(
                    "a row with key {key} already exists in table `{}` outside your scope",
                    access.table.name
                )),
                _ => not_found(access.table, &key),
            });
        }
        other => other,
    };
    let write = Write {
        access: &access,
        operation,
        sent: &sent,
        key: &key,
        base_version,
        index,
    };
    let result = match operation.action {
        Action::Delete => write.delete(txn, context, existing).await?,
        _ => write.upsert(txn, context, existing).await?,
    };
    if let Some(op_id) = &operation.op_id {
        let stored = serde_json::to_value(&result).expect("an op result serialises");
        // A later operation of this batch with the same op id is a replay of this one.
        context.replays.insert(op_id.clone(), stored.clone());
        match &mut context.buffered {
            Some(buffered) => buffered.ops.push((op_id.clone(), stored)),
            None => ops::record(txn, context.device_id, op_id, &stored).await?,
        }
    }
    Ok(result)
}

fn not_found(table: &TableDef, key: &Value) -> SyncError {
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

/// One operation being applied.
struct Write<'a> {
    access: &'a Access<'a>,
    operation: &'a Operation,
    sent: &'a Map<String, Value>,
    key: &'a Value,
    base_version: Option<i64>,
    index: usize,
}

impl Write<'_> {
    fn table(&self) -> &TableDef {
        self.access.table
    }

    fn use_local(&self) -> bool {
        self.operation.resolve == Some(Resolve::UseLocal)
    }

    async fn upsert(
        &self,
        txn: &impl ConnectionTrait,
        context: &mut Context<'_>,
        existing: Option<StoredRow>,
    ) -> Result<OpResult, SyncError> {
        let table = self.table();
        let permissions = self.access.permissions;
        match (self.operation.action, existing) {
            (Action::Update, None) => Err(not_found(table, self.key)),
            (_, None) => {
                require(permissions.create, context.caller, "create", table)?;
                let row = self.new_row(context)?;
                self.store(txn, context, row, 1, false, None).await
            }
            (Action::Insert | Action::Upsert, Some(tombstone)) if tombstone.deleted => {
                // A deleted key used again: a new life of the row, with a newer version.
                require(permissions.create, context.caller, "create", table)?;
                let row = self.new_row(context)?;
                self.store(
                    txn,
                    context,
                    row,
                    tombstone.version + 1,
                    false,
                    Some(&tombstone),
                )
                .await
            }
            (_, Some(server)) => {
                require(permissions.update, context.caller, "update", table)?;
                let merge = table.spec.conflict == ConflictStrategy::Merge;
                let candidate = overlay(&server.values, self.sent, merge);
                self.check_in_scope(&candidate, context.caller)?;
                let reason = if server.deleted {
                    Some(format!("the row was deleted (version {})", server.version))
                } else if self.operation.action == Action::Insert {
                    Some("a row with this key already exists".to_string())
                } else {
                    detect(table, self.base_version, self.sent, &server)
                };
                let next = server.version + 1;
                match reason {
                    None => {
                        self.store(txn, context, candidate, next, false, Some(&server))
                            .await
                    }
                    Some(reason)
                        if table.spec.conflict == ConflictStrategy::Hook && !self.use_local() =>
                    {
                        let hook_ctx =
                            context.hook_context(table, action_name(self.operation.action));
                        let client = candidate.clone();
                        match context.plugins.on_conflict(
                            table,
                            &server.to_client(),
                            &client,
                            &hook_ctx,
                        )? {
                            Some(winner) => {
                                let mut winner = winner;
                                winner.remove(VERSION_FIELD);
                                let row = self.checked_hook_row(table, winner, context.caller)?;
                                self.store(txn, context, row, next, false, Some(&server))
                                    .await
                            }
                            None => Ok(self.kept(&server, reason, None)),
                        }
                    }
                    Some(reason) => match decide(table, self.use_local(), self.sent, &server) {
                        Decision::Apply => {
                            self.store(txn, context, candidate, next, false, Some(&server))
                                .await
                        }
                        Decision::Keep => Ok(self.kept(&server, reason, None)),
                        Decision::Queue => {
                            self.queue(txn, context, &server, candidate, reason).await
                        }
                    },
                }
            }
        }
    }

    async fn delete(
        &self,
        txn: &impl ConnectionTrait,
        context: &mut Context<'_>,
        existing: Option<StoredRow>,
    ) -> Result<OpResult, SyncError> {
        let table = self.table();
        require(
            self.access.permissions.delete,
            context.caller,
            "delete",
            table,
        )?;
        let Some(server) = existing else {
            return Err(not_found(table, self.key));
        };
        if server.deleted {
            // Deleting twice changes nothing: answer with the tombstone.
            return Ok(self.applied(&server));
        }
        if let Some(reason) = detect(table, self.base_version, self.sent, &server) {
            match decide(table, self.use_local(), self.sent, &server) {
                Decision::Apply => {}
                Decision::Keep => return Ok(self.kept(&server, reason, None)),
                Decision::Queue => {
                    let values = server.values.clone();
                    return self.queue(txn, context, &server, values, reason).await;
                }
            }
        }
        let values = server.values.clone();
        self.store(
            txn,
            context,
            values,
            server.version + 1,
            true,
            Some(&server),
        )
        .await
    }

    /// A complete new row: scope columns filled from the caller's claims when not sent.
    fn new_row(&self, context: &Context<'_>) -> Result<Map<String, Value>, SyncError> {
        let mut sent = self.sent.clone();
        if let RowScope::Equals {
            column,
            value: Some(value),
        } = &self.access.scope
            && !sent.contains_key(column)
        {
            sent.insert(column.clone(), value.clone());
        }
        let row = complete_new_row(self.table(), &sent)?;
        self.check_in_scope(&row, context.caller)?;
        Ok(row)
    }

    fn check_in_scope(&self, row: &Map<String, Value>, caller: &Caller) -> Result<(), SyncError> {
        if self.access.scope.allows(row) {
            return Ok(());
        }
        let column = match &self.access.scope {
            RowScope::Equals { column, .. } => column.as_str(),
            RowScope::All => "",
        };
        Err(SyncError::Forbidden(format!(
            "the row would be outside your scope: role `{}` may only write rows whose `{column}` \
             matches your token",
            caller.role
        )))
    }

    /// Runs the table's before-hooks on the row, writes it, and queues its after-hooks.
    async fn store(
        &self,
        txn: &impl ConnectionTrait,
        context: &mut Context<'_>,
        values: Map<String, Value>,
        version: i64,
        deleted: bool,
        current: Option<&StoredRow>,
    ) -> Result<OpResult, SyncError> {
        let table = self.table();
        // Tables without hooks skip building what only hooks read (copies of the sent data
        // and of the current row), on every write.
        let (values, hook_op) = if table.spec.hooks.is_empty() {
            (values, None)
        } else {
            let hook_op = HookOp {
                action: action_name(self.operation.action).into(),
                table: table.name.clone(),
                key: self.key.clone(),
                data: self.sent.clone(),
                row: values,
                current: current.map(|row| row.values.clone()),
                op_id: self.operation.op_id.clone(),
            };
            let hook_ctx = context.hook_context(table, &hook_op.action);
            let row = context
                .plugins
                .before_write(table, hook_op.clone(), &hook_ctx)
                .await?;
            (
                self.checked_hook_row(table, row, context.caller)?,
                Some(hook_op),
            )
        };
        let row = StoredRow {
            values,
            changed_at: chrono::Utc::now().timestamp_millis(),
            version,
            seq: context.next_seq(),
            deleted,
        };
        let slot = (table.name.clone(), self.key.to_string());
        match &mut context.buffered {
            // A row this batch inserted and changes again: change the insert.
            Some(buffered) if buffered.positions.contains_key(&slot) => {
                buffered.inserts[buffered.positions[&slot]].1 = row.clone();
            }
            Some(buffered) if current.is_none() => {
                buffered
                    .positions
                    .insert(slot.clone(), buffered.inserts.len());
                buffered.inserts.push((table.name.clone(), row.clone()));
            }
            _ => rows::write(txn, table, &row, current.is_some()).await?,
        }
        context.rows.insert(slot, Some(row.clone()));
        if context.outbox {
            record_outbox(
                txn,
                table,
                self.key,
                &row,
                context.caller,
                context.device_id,
            )
            .await?;
        }
        if let Some(hook_op) = hook_op {
            let committed = HookOp {
                row: row.values.clone(),
                ..hook_op
            };
            let hook_ctx = context.hook_context(table, &committed.action);
            let now = chrono::Utc::now().timestamp_millis();
            for webhook in context.plugins.webhooks(table) {
                let body = Webhook::after_commit_body(&committed, &hook_ctx);
                webhooks::enqueue(txn, &webhook.url, &body, now).await?;
            }
            context
                .committed
                .push((table.name.clone(), committed, hook_ctx));
        }
        Ok(self.applied(&row))
    }

    /// A row a hook returned: checked again against the schema and the caller's scope, with
    /// every column present.
    fn checked_hook_row(
        &self,
        table: &TableDef,
        row: Map<String, Value>,
        caller: &Caller,
    ) -> Result<Map<String, Value>, SyncError> {
        let checked = check_sent(table, &row)?;
        let complete = complete_new_row(table, &checked)?;
        if complete.get(&table.spec.primary_key) != Some(self.key) {
            return Err(SyncError::invalid(
                &table.spec.primary_key,
                "a hook may not change the row's primary key",
            ));
        }
        self.check_in_scope(&complete, caller)?;
        Ok(complete)
    }

    fn base_result(&self, status: OpStatus, row: &StoredRow) -> OpResult {
        OpResult {
            index: self.index as u32,
            op_id: self.operation.op_id.clone(),
            table: self.table().name.clone(),
            key: Some(self.key.clone()),
            status,
            version: Some(row.version),
            deleted: row.deleted,
            row: Some(RowObject(row.to_client())),
            conflict: None,
            error: None,
            replayed: false,
        }
    }

    fn applied(&self, row: &StoredRow) -> OpResult {
        self.base_result(OpStatus::Applied, row)
    }

    fn kept(&self, server: &StoredRow, reason: String, conflict_id: Option<i64>) -> OpResult {
        let strategy = self.table().spec.conflict;
        OpResult {
            conflict: Some(ConflictInfo {
                strategy: serde_json::to_value(strategy)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                resolution: if conflict_id.is_some() {
                    "queued"
                } else {
                    "server_kept"
                }
                .into(),
                reason,
                conflict_id,
            }),
            ..self.base_result(OpStatus::Conflict, server)
        }
    }

    async fn queue(
        &self,
        txn: &impl ConnectionTrait,
        context: &Context<'_>,
        server: &StoredRow,
        client_row: Map<String, Value>,
        reason: String,
    ) -> Result<OpResult, SyncError> {
        let mut client = client_row;
        if self.operation.action == Action::Delete {
            client.insert("_deleted".into(), Value::Bool(true));
        }
        let id = conflicts::insert(
            txn,
            NewConflict {
                table: &self.table().name,
                key: self.key,
                server_row: &server.to_client(),
                client_row: &client,
                server_version: server.version,
                base_version: self.base_version,
                device_id: context.device_id,
                subject: &context.caller.subject,
            },
        )
        .await?;
        Ok(self.kept(server, reason, Some(id)))
    }
}
