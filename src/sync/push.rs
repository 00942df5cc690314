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
use crate::schema::model::ConflictStrategy;
use crate::schema::{Schema, TableDef};
use crate::store::conflicts::{self, NewConflict};
use crate::store::rows::{self, StoredRow};
use crate::store::{feed, ops};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde_json::{Map, Value};

/// A push request, as the core sees it.
pub struct PushBatch {
    pub device_id: String,
    pub atomic: bool,
    pub operations: Vec<Operation>,
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
    let txn = db.begin().await.map_err(|e| whole(e.into()))?;
    let head = feed::lock(&txn).await.map_err(|e| whole(e.into()))?;
    let mut context = Context {
        schema,
        caller,
        device_id: &batch.device_id,
        seq: head,
    };
    let mut results = Vec::with_capacity(batch.operations.len());
    for (index, operation) in batch.operations.iter().enumerate() {
        let outcome = if batch.atomic {
            apply(&txn, &mut context, index, operation).await
        } else {
            let savepoint = txn.begin().await.map_err(|e| whole(e.into()))?;
            let outcome = apply(&savepoint, &mut context, index, operation).await;
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
    if context.seq > head {
        feed::store(&txn, context.seq)
            .await
            .map_err(|e| whole(e.into()))?;
    }
    txn.commit().await.map_err(|e| whole(e.into()))?;
    let position = context.seq;
    Ok((split(results, position), position))
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
    caller: &'a Caller,
    device_id: &'a str,
    /// Last feed position handed out in this transaction.
    seq: i64,
}

impl Context<'_> {
    fn next_seq(&mut self) -> i64 {
        self.seq += 1;
        self.seq
    }
}

async fn apply(
    txn: &impl ConnectionTrait,
    context: &mut Context<'_>,
    index: usize,
    operation: &Operation,
) -> Result<OpResult, SyncError> {
    if let Some(op_id) = &operation.op_id
        && let Some(stored) = ops::find(txn, context.device_id, op_id).await?
    {
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
    let existing = rows::find(txn, access.table, &key).await?;
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
        ops::record(txn, context.device_id, op_id, &stored).await?;
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
                self.store(txn, context, row, 1, false, false).await
            }
            (Action::Insert | Action::Upsert, Some(tombstone)) if tombstone.deleted => {
                // A deleted key used again: a new life of the row, with a newer version.
                require(permissions.create, context.caller, "create", table)?;
                let row = self.new_row(context)?;
                self.store(txn, context, row, tombstone.version + 1, false, true)
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
                match reason {
                    None => {
                        self.store(txn, context, candidate, server.version + 1, false, true)
                            .await
                    }
                    Some(reason) => match decide(table, self.use_local(), self.sent, &server) {
                        Decision::Apply => {
                            self.store(txn, context, candidate, server.version + 1, false, true)
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
        match detect(table, self.base_version, self.sent, &server) {
            None => {
                self.store(
                    txn,
                    context,
                    server.values.clone(),
                    server.version + 1,
                    true,
                    true,
                )
                .await
            }
            Some(reason) => match decide(table, self.use_local(), self.sent, &server) {
                Decision::Apply => {
                    self.store(
                        txn,
                        context,
                        server.values.clone(),
                        server.version + 1,
                        true,
                        true,
                    )
                    .await
                }
                Decision::Keep => Ok(self.kept(&server, reason, None)),
                Decision::Queue => {
                    self.queue(txn, context, &server, server.values.clone(), reason)
                        .await
                }
            },
        }
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

    async fn store(
        &self,
        txn: &impl ConnectionTrait,
        context: &mut Context<'_>,
        values: Map<String, Value>,
        version: i64,
        deleted: bool,
        exists: bool,
    ) -> Result<OpResult, SyncError> {
        let row = StoredRow {
            values,
            changed_at: chrono::Utc::now().timestamp_millis(),
            version,
            seq: context.next_seq(),
            deleted,
        };
        rows::write(txn, self.table(), &row, exists).await?;
        Ok(self.applied(&row))
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
