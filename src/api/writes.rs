//! What the write endpoints share: the pipeline's options for this gateway and caller, and
//! running a push (for `POST /sync/push` and every `POST /tables/{table}/push`).

use super::error::ApiError;
use crate::auth::Caller;
use crate::server::AppState;
use crate::sync::push::{PushBatch, push};
use crate::sync::types::{Operation, PushOutcome};
use crate::sync::write::WriteOptions;

/// Writes of `caller` on this gateway: hooks on, outbox entries on an edge, and `lookup` for
/// scripts reading rows as the caller.
pub fn write_options(state: &AppState, caller: &Caller) -> WriteOptions {
    WriteOptions {
        outbox: state.config.upstream.is_some(),
        hooks: true,
        lookup: Some(crate::sync::lookup::lookup(
            state.db.clone(),
            state.schema(),
            caller.clone(),
        )),
    }
}

/// Runs a push, marks the device as seen and wakes the long-polls.
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
    let result = push(&state.db, &schema, &plugins, caller, batch).await;
    if !matches!(&result, Err(failure) if failure.operation.is_none()) {
        // The device id passed its checks: the caller's own device was seen.
        state.activity.mark(&device_id, &caller.subject);
    }
    let (outcome, position) = result?;
    state.feed.advance(position);
    Ok(outcome)
}
