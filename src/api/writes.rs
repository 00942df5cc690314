//! What the write endpoints share: the pipeline's options for this gateway and caller, and
//! running a push (for `POST /sync/push` and every `POST /tables/{table}/push`).

use super::error::ApiError;
use crate::api::AppState;
use crate::auth::Caller;
use crate::ops::metrics::PUSH_OPERATIONS;
use crate::sync::push::{PushBatch, PushFailure, push};
use crate::sync::types::{Operation, PushOutcome};
use crate::sync::write::WriteOptions;

/// Writes of `caller` on this gateway (an edge records them in its outbox).
pub fn write_options(state: &AppState, caller: &Caller) -> WriteOptions {
    WriteOptions::for_caller(
        &state.feed,
        &state.db,
        state.schema(),
        caller,
        state.config.upstream.is_some(),
        state.config.sync.key_node,
        state.config.plugins.max_hook_writes,
    )
}

/// Runs a push and marks the device as seen (the write pipeline wakes the readers).
pub async fn run_push(
    state: &AppState,
    caller: &Caller,
    device_id: String,
    atomic: bool,
    operations: Vec<Operation>,
) -> Result<PushOutcome, ApiError> {
    let max = state.config.sync.max_batch;
    if operations.len() > max {
        return Err(ApiError::bad_request(
            "operations",
            format!(
                "{} operations is more than the {max} a push may carry (`sync.max_batch`)",
                operations.len()
            ),
        ));
    }
    let batch = PushBatch {
        device_id,
        atomic,
        operations,
        options: write_options(state, caller),
    };
    let schema = state.schema();
    let plugins = state.plugins();
    let device_id = batch.device_id.clone();
    let tables: Vec<String> = batch.operations.iter().map(|op| op.table.clone()).collect();
    let result = push(&state.db, &schema, &plugins, caller, batch).await;
    count_operations(&schema, &result, &tables);
    if !matches!(&result, Err(failure) if failure.operation.is_none()) {
        // The device id passed its checks: the caller's own device was seen.
        state.activity.device_seen(caller, &device_id);
    }
    Ok(result?)
}

/// `syncgate_push_operations_total` by table and outcome; every operation of a batch refused
/// as a whole counts as an error. The `table` label names a declared table or is `unknown`: a
/// name taken from the request would let a caller add series without end.
fn count_operations(
    schema: &crate::schema::Schema,
    result: &Result<PushOutcome, PushFailure>,
    tables: &[String],
) {
    let count = |table: &str, outcome: &'static str| {
        let label = schema
            .table(table)
            .map_or_else(|| "unknown".to_string(), |declared| declared.name.clone());
        metrics::counter!(PUSH_OPERATIONS, "table" => label, "outcome" => outcome).increment(1);
    };
    match result {
        Ok(outcome) => {
            let answered = [
                (&outcome.applied, "applied"),
                (&outcome.conflicts, "conflict"),
                (&outcome.errors, "error"),
            ];
            for (results, status) in answered {
                for op in results {
                    count(&op.table, if op.replayed { "replayed" } else { status });
                }
            }
        }
        Err(_) => tables.iter().for_each(|table| count(table, "error")),
    }
}
