//! Applying a batch of operations from one device: atomically (all or nothing) or one by one.
//! Each operation is checked (table access, values, key) and then runs through the write
//! pipeline ([`super::write`]); an `op_id` already applied by this caller's device is answered
//! as a replay and writes nothing.

use super::SyncError;
use super::access::{Access, access};
use super::data::{VERSION_FIELD, check_sent, key_of};
use super::types::Action;
use super::types::{ConflictInfo, OpError, OpResult, OpStatus, Operation, PushOutcome, Resolve};
use super::write::{Actor, ConflictRule, RowWrite, WriteOptions, Writer, Written};
use crate::auth::Caller;
use crate::plugins::Plugins;
use crate::schema::{Schema, TableDef};
use crate::store::feed::Grouping;
use crate::store::op_records::{OpRecord, OpRecordStatus};
use crate::store::rows::StoredRow;
use sea_orm::DatabaseConnection;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use tracing::Instrument;

/// A push request, as the core sees it.
pub struct PushBatch {
    pub device_id: String,
    pub atomic: bool,
    pub operations: Vec<Operation>,
    /// Outbox entries on an edge, hooks, and how hook scripts read other rows.
    pub options: WriteOptions,
}

/// An atomic batch that failed: the operation at fault and why. Nothing was written.
#[derive(Debug)]
pub struct PushFailure {
    /// The operation at fault; `None` when the request as a whole was refused.
    pub operation: Option<FailedOperation>,
    pub error: SyncError,
}

#[derive(Debug)]
pub struct FailedOperation {
    pub index: usize,
    pub op_id: Option<String>,
    pub table: String,
}

impl From<SyncError> for PushFailure {
    fn from(error: SyncError) -> Self {
        Self {
            operation: None,
            error,
        }
    }
}

impl From<sea_orm::DbErr> for PushFailure {
    fn from(error: sea_orm::DbErr) -> Self {
        SyncError::from(error).into()
    }
}

/// An operation checked against the schema, ready for the pipeline.
struct Checked<'s> {
    access: Access<'s>,
    /// Null until assigned, for an insert the gateway gives a key (`assigns_key`).
    key: Value,
    sent: Map<String, Value>,
    /// An insert without its key into a table whose keys the gateway assigns.
    assigns_key: bool,
    /// Columns whose value is the key of an earlier operation of the batch
    /// (`{"key_of": "OP_ID"}`), with that op id; filled in when the batch runs.
    references: Vec<(String, String)>,
    base_version: Option<i64>,
    /// Identifies the change, to tell a retry from a reused op id (see [`fingerprint`]).
    fingerprint: String,
    /// The row an insert or upsert stores if its key has none, made here, outside the
    /// transaction (taken by the first run; a run again makes it there).
    new_row: Option<Map<String, Value>>,
}

/// How often a push that met a concurrent writer (see [`SyncError::Contended`]) is run again.
const ATTEMPTS: usize = 4;

/// Applies `batch` for `caller`. The outcome's cursor is the feed position it committed.
#[tracing::instrument(name = "push", skip_all, fields(
    device = %batch.device_id, operations = batch.operations.len(), atomic = batch.atomic,
))]
pub async fn push(
    db: &DatabaseConnection,
    schema: &Schema,
    plugins: &Plugins,
    caller: &Caller,
    mut batch: PushBatch,
) -> Result<PushOutcome, PushFailure> {
    check_device(caller, &batch.device_id)?;
    // Checked once, outside the transaction; a run that met a concurrent writer reuses it.
    let mut checked: Vec<Result<Checked, SyncError>> = Vec::with_capacity(batch.operations.len());
    tracing::info_span!("validate", operations = batch.operations.len()).in_scope(|| {
        for index in 0..batch.operations.len() {
            let (earlier, rest) = batch.operations.split_at_mut(index);
            checked.push(check(schema, caller, earlier, &mut rest[0]));
        }
    });
    let mut attempt = 1;
    loop {
        let options = batch.options.clone();
        let span = tracing::info_span!("attempt", attempt);
        // The first run presumes an insert's key new; a run again reads it first.
        let presume_new = attempt == 1;
        match run(
            db,
            schema,
            plugins,
            caller,
            &batch,
            &mut checked,
            options,
            presume_new,
        )
        .instrument(span)
        .await
        {
            Err(PushFailure {
                error: SyncError::Contended(reason),
                ..
            }) if attempt < ATTEMPTS => {
                tracing::debug!(%reason, attempt, "push met a concurrent writer; running it again");
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// One run of a push in one transaction. With `presume_new`, the keys of inserts are not read
/// first: an insert's key seldom has a row, and one that has is found when the rows are written
/// (the insert adds fewer rows than it should, [`SyncError::Contended`]) and the push runs again,
/// reading every key.
#[allow(clippy::too_many_arguments)]
async fn run(
    db: &DatabaseConnection,
    schema: &Schema,
    plugins: &Plugins,
    caller: &Caller,
    batch: &PushBatch,
    checked: &mut [Result<Checked<'_>, SyncError>],
    options: WriteOptions,
    presume_new: bool,
) -> Result<PushOutcome, PushFailure> {
    let actor = Actor {
        caller,
        device_id: &batch.device_id,
    };
    let mut writer = Writer::begin_grouped(db, plugins, actor, options, grouping(checked)).await?;
    let op_ids: Vec<&str> = batch
        .operations
        .iter()
        .zip(checked.iter())
        .filter(|(_, checked)| checked.is_ok())
        .filter_map(|(operation, _)| operation.op_id.as_deref())
        .collect();
    let reading = tracing::info_span!("read", rows = checked.len());
    let records = writer
        .op_records(&op_ids)
        .instrument(reading.clone())
        .await?;
    let presumed: Vec<bool> = batch
        .operations
        .iter()
        .zip(checked.iter())
        .map(|(operation, checked)| {
            presume_new
                && operation.action == Action::Insert
                && checked.as_ref().is_ok_and(|checked| {
                    // Hooks (a webhook among them) would run twice for a key that had a row.
                    checked.new_row.is_some() && checked.access.table.spec.hooks.is_empty()
                })
                // A replay answers with the row as it is: it must be read.
                && !operation.op_id.as_ref().is_some_and(|id| records.contains_key(id))
        })
        .collect();
    read_ahead(&mut writer, schema, checked, &presumed)
        .instrument(reading)
        .await?;
    // An OpenTelemetry span lasts from its creation to its drop: this one covers the loop.
    let applying = tracing::info_span!("apply", operations = checked.len());
    let mut results = Vec::with_capacity(batch.operations.len());
    // The key each op id of this run wrote (or was answered with), for `key_of`; kept only when
    // an operation of the batch refers to one.
    let referring = checked
        .iter()
        .flatten()
        .any(|checked| !checked.references.is_empty());
    let mut keys_by_op: HashMap<String, Value> = HashMap::new();
    for (index, (operation, checked)) in batch.operations.iter().zip(checked.iter_mut()).enumerate()
    {
        let outcome = match checked {
            Ok(checked) => {
                let span = tracing::debug_span!(parent: &applying, "operation", index,
                    table = %operation.table, action = operation.action.name());
                let record = operation.op_id.as_deref().and_then(|id| records.get(id));
                match complete(&mut writer, checked, record, &keys_by_op).await {
                    Err(error) => Err(error),
                    Ok(()) => match record {
                        Some(record) => {
                            replay(&mut writer, index, operation, checked, record)
                                .instrument(span)
                                .await
                        }
                        None => {
                            apply(&mut writer, index, operation, checked)
                                .instrument(span)
                                .await
                        }
                    },
                }
            }
            // An atomic batch ends at its first failure and is not run again, so the error of a
            // failed check can be taken.
            Err(error) if batch.atomic => Err(std::mem::replace(
                error,
                SyncError::BadRequest(String::new()),
            )),
            Err(error) => {
                results.push(error_result(index, operation, error));
                continue;
            }
        };
        match outcome {
            Ok(result) => {
                if referring && let (Some(op_id), Some(key)) = (&operation.op_id, &result.key) {
                    keys_by_op.insert(op_id.clone(), key.clone());
                }
                results.push(result)
            }
            Err(error)
                if batch.atomic || matches!(error, SyncError::Db(_) | SyncError::Contended(_)) =>
            {
                return Err(PushFailure {
                    operation: Some(FailedOperation {
                        index,
                        op_id: operation.op_id.clone(),
                        table: operation.table.clone(),
                    }),
                    error,
                });
            }
            Err(error) => results.push(error_result(index, operation, &error)),
        }
    }
    drop(applying);
    let position = writer.commit(schema).await?;
    Ok(split(results, position))
}

/// Whether a push may share its transaction with the pushes queued around it (SQLite's group
/// commit, see `store::write_turn`): not when a table it writes has hooks, whose scripts read
/// rows through other connections and would miss the group's uncommitted rows.
fn grouping(checked: &[Result<Checked<'_>, SyncError>]) -> Grouping {
    if checked
        .iter()
        .flatten()
        .all(|checked| checked.access.table.spec.hooks.is_empty())
    {
        Grouping::Join
    } else {
        Grouping::Alone
    }
}

/// Fills in what only the run knows: the values of `key_of` references (the keys earlier
/// operations wrote) and, for an insert whose key the gateway assigns, a new key (a retry of
/// a recorded op id keeps the key it was answered with).
async fn complete(
    writer: &mut Writer<'_>,
    checked: &mut Checked<'_>,
    record: Option<&OpRecord>,
    keys_by_op: &HashMap<String, Value>,
) -> Result<(), SyncError> {
    let table = checked.access.table;
    for (column, op_id) in &checked.references {
        let Some(key) = keys_by_op.get(op_id) else {
            return Err(SyncError::invalid(
                column,
                format!("`key_of` names op_id `{op_id}`, whose operation wrote no row"),
            ));
        };
        let mut value = Map::new();
        value.insert(column.clone(), key.clone());
        let value = check_sent(table, value)?;
        checked.sent.extend(value);
        if *column == table.spec.primary_key {
            checked.key = key_of(table, &checked.sent)?;
        }
    }
    if checked.assigns_key {
        checked.key = match record {
            Some(record) => record.key.clone(),
            None => writer.assign_key(table).await?,
        };
        checked
            .sent
            .insert(table.spec.primary_key.clone(), checked.key.clone());
    }
    Ok(())
}

/// A device token pushes as its own device; any caller's `device_id` must be a usable id.
fn check_device(caller: &Caller, device_id: &str) -> Result<(), SyncError> {
    SyncError::check_identifier("device_id", device_id)?;
    match &caller.device_id {
        Some(own) if own != device_id => Err(SyncError::Forbidden(format!(
            "a device token pushes as its own device `{own}`, not `{device_id}`"
        ))),
        _ => Ok(()),
    }
}

/// Checks one operation: its op id (not used earlier in the batch), the caller's access to
/// its table, its values (taken out of the operation) and its key.
fn check<'s>(
    schema: &'s Schema,
    caller: &Caller,
    earlier: &[Operation],
    operation: &mut Operation,
) -> Result<Checked<'s>, SyncError> {
    if let Some(op_id) = &operation.op_id {
        SyncError::check_identifier("op_id", op_id)?;
        if let Some(first) = earlier.iter().position(|e| e.op_id.as_ref() == Some(op_id)) {
            return Err(SyncError::OpIdReused(format!(
                "op_id `{op_id}` is already used by operation {first} of this batch; each \
                 operation needs its own op_id"
            )));
        }
    }
    let access = access(schema, caller, &operation.table)?;
    let base_version = operation
        .base_version
        .or_else(|| operation.data.get(VERSION_FIELD).and_then(Value::as_i64));
    let mut data = std::mem::take(&mut operation.data);
    let references = take_references(access.table, &mut data, earlier)?;
    let sent = check_sent(access.table, data)?;
    let pk = &access.table.spec.primary_key;
    let assigns_key = matches!(operation.action, Action::Insert | Action::Upsert)
        && access.table.key_assigned_by_server()
        && matches!(sent.get(pk), None | Some(Value::Null))
        && !references.iter().any(|(column, _)| column == pk);
    let key = if assigns_key || references.iter().any(|(column, _)| column == pk) {
        Value::Null
    } else {
        key_of(access.table, &sent)?
    };
    // A reference is part of the change as sent: the same op id with another one is another
    // change. (Only batches with references pay for the copy.)
    let fingerprint = if references.is_empty() {
        fingerprint(operation, access.table, &sent, base_version)
    } else {
        let mut identified = sent.clone();
        for (column, op_id) in &references {
            identified.insert(column.clone(), serde_json::json!({ REFERENCE: op_id }));
        }
        fingerprint(operation, access.table, &identified, base_version)
    };
    let new_row = (matches!(operation.action, Action::Insert | Action::Upsert)
        && !assigns_key
        && references.is_empty())
    .then(|| super::write::new_row(&access, &sent).ok())
    .flatten();
    Ok(Checked {
        access,
        key,
        sent,
        assigns_key,
        references,
        base_version,
        fingerprint,
        new_row,
    })
}

/// How an operation names the key of an earlier one: `{"key_of": "OP_ID"}` as a column's value.
const REFERENCE: &str = "key_of";

/// Takes the columns of `data` whose value refers to an earlier operation's key out of it; the
/// op id must name an earlier operation of the batch.
fn take_references(
    table: &TableDef,
    data: &mut Map<String, Value>,
    earlier: &[Operation],
) -> Result<Vec<(String, String)>, SyncError> {
    let mut references = Vec::new();
    for (column, value) in data.iter() {
        let Some(object) = value.as_object().filter(|o| o.len() == 1) else {
            continue;
        };
        let Some(target) = object.get(REFERENCE) else {
            continue;
        };
        let declared = table.spec.columns.get(column);
        if declared.is_some_and(|c| c.kind == crate::schema::model::ColumnType::Json) {
            // A json column holds any object, this one included.
            continue;
        }
        let Some(op_id) = target.as_str() else {
            return Err(SyncError::invalid(
                column,
                "`key_of` takes the op_id of an earlier operation of this batch, as a string",
            ));
        };
        if !earlier.iter().any(|e| e.op_id.as_deref() == Some(op_id)) {
            return Err(SyncError::invalid(
                column,
                format!(
                    "`key_of` names op_id `{op_id}`, which no earlier operation of this batch has"
                ),
            ));
        }
        references.push((column.clone(), op_id.to_string()));
    }
    for (column, _) in &references {
        data.remove(column);
    }
    Ok(references)
}

/// Reads (and locks) every row the batch names, one query per table, tables in schema order so
/// that concurrent writers lock rows in one order; the keys of `presumed` operations are taken
/// as new without a read (see [`run`]).
async fn read_ahead(
    writer: &mut Writer<'_>,
    schema: &Schema,
    checked: &[Result<Checked<'_>, SyncError>],
    presumed: &[bool],
) -> Result<(), SyncError> {
    for table in schema.tables.values() {
        let named = || {
            checked
                .iter()
                .zip(presumed)
                .filter_map(|(op, presumed)| Some((op.as_ref().ok()?, *presumed)))
                .filter(|(op, _)| op.access.table.name == table.name && !op.key.is_null())
        };
        let keys: Vec<Value> = named()
            .filter(|(_, presumed)| !presumed)
            .map(|(op, _)| op.key.clone())
            .collect();
        if !keys.is_empty() {
            writer.preload(table, &keys).await?;
        }
        for (op, _) in named().filter(|(_, presumed)| *presumed) {
            writer.presume_absent(table, &op.key);
        }
    }
    Ok(())
}

async fn apply(
    writer: &mut Writer<'_>,
    index: usize,
    operation: &Operation,
    checked: &mut Checked<'_>,
) -> Result<OpResult, SyncError> {
    let use_local = operation.resolve == Some(Resolve::UseLocal);
    let written = writer
        .apply(RowWrite {
            access: &checked.access,
            action: operation.action,
            key: checked.key.clone(),
            sent: &checked.sent,
            base_version: checked.base_version,
            rule: ConflictRule::Detect { use_local },
            op_id: operation.op_id.as_deref(),
            new_row: checked.new_row.take(),
        })
        .await?;
    if let Some(op_id) = &operation.op_id {
        writer.record_op(
            op_id,
            OpRecord {
                table: operation.table.clone(),
                key: checked.key.clone(),
                status: if written.applied {
                    OpRecordStatus::Applied
                } else {
                    OpRecordStatus::Conflict
                },
                version: written.row.version,
                deleted: written.row.deleted,
                conflict: written
                    .conflict
                    .as_ref()
                    .map(|info| serde_json::to_value(info).expect("conflict details serialise")),
                fingerprint: checked.fingerprint.clone(),
            },
        );
    }
    Ok(result(index, operation, checked.key.clone(), written))
}

/// The first outcome of an op id this device already used, with the row as it is now (when the
/// caller may still read it). The same op id with another change is refused.
async fn replay(
    writer: &mut Writer<'_>,
    index: usize,
    operation: &Operation,
    checked: &Checked<'_>,
    record: &OpRecord,
) -> Result<OpResult, SyncError> {
    if record.fingerprint != checked.fingerprint {
        return Err(SyncError::OpIdReused(format!(
            "op_id `{}` was already used by this device for a different change (to key {} of \
             table `{}`); send a new op_id for a new change",
            operation.op_id.as_deref().unwrap_or_default(),
            record.key,
            record.table
        )));
    }
    let now = writer.current(checked.access.table, &record.key).await?;
    let row = match now {
        // Version 0: the first time wrote nothing (`missing_row = "ignore"`); nor does a retry.
        _ if record.version == 0 => None,
        Some(row)
            if checked.access.permissions.read
                && writer.admits(&checked.access, &row.values).await? =>
        {
            Some(row)
        }
        _ => None,
    };
    Ok(OpResult {
        index: index as u32,
        op_id: operation.op_id.clone(),
        table: record.table.clone(),
        key: Some(record.key.clone()),
        status: match record.status {
            OpRecordStatus::Conflict => OpStatus::Conflict,
            OpRecordStatus::Applied => OpStatus::Applied,
        },
        version: Some(record.version),
        deleted: record.deleted,
        row: row.map(StoredRow::into_client),
        conflict: record
            .conflict
            .clone()
            .and_then(|info| serde_json::from_value::<ConflictInfo>(info).ok()),
        error: None,
        replayed: true,
    })
}

/// What identifies an operation's change: table, action, base version, resolution and the
/// checked values in column order. A retry has the same; another change under the same op id
/// does not.
fn fingerprint(
    operation: &Operation,
    table: &TableDef,
    sent: &Map<String, Value>,
    base_version: Option<i64>,
) -> String {
    let mut hasher = HashWriter(Sha256::new());
    hasher.0.update(operation.table.as_bytes());
    hasher.0.update([0]);
    hasher.0.update(operation.action.name().as_bytes());
    hasher.0.update([0]);
    hasher.0.update(base_version.unwrap_or(-1).to_le_bytes());
    hasher.0.update([operation.resolve.is_some() as u8]);
    for name in table.spec.columns.keys() {
        if let Some(value) = sent.get(name) {
            hasher.0.update([0]);
            hasher.0.update(name.as_bytes());
            hasher.0.update([0]);
            serde_json::to_writer(&mut hasher, value).expect("hashing cannot fail");
        }
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = hasher.0.finalize();
    let mut text = String::with_capacity(64);
    for byte in digest {
        text.push(HEX[(byte >> 4) as usize] as char);
        text.push(HEX[(byte & 15) as usize] as char);
    }
    text
}

/// Feeds what serde writes into the hash, without building the text first.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn result(index: usize, operation: &Operation, key: Value, written: Written) -> OpResult {
    OpResult {
        index: index as u32,
        op_id: operation.op_id.clone(),
        table: operation.table.clone(),
        key: Some(key),
        status: if written.applied {
            OpStatus::Applied
        } else {
            OpStatus::Conflict
        },
        version: Some(written.row.version),
        deleted: written.row.deleted,
        row: (!written.ignored()).then(|| written.row.into_client()),
        conflict: written.conflict,
        error: None,
        replayed: false,
    }
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
            message: error.to_string(),
            field: error.field().map(String::from),
        }),
        replayed: false,
    }
}
