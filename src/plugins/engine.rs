//! The sandboxed Rhai engine every script runs in: no module imports (so no file access), no
//! `eval`, no network, and limits on operations, call depth and data sizes so a runaway script
//! stops with an error instead of hanging a request.

use super::{HookWrite, HookWrites, Lookup};
use rhai::{Dynamic, Engine, EvalAltResult, NativeCallContext};

/// What the call in progress may read and write, passed to scripts as the evaluation's tag.
#[derive(Clone)]
pub struct CallTag {
    pub reads: Option<Lookup>,
    pub writes: Option<HookWrites>,
    pub max_writes: usize,
}

pub fn sandboxed(max_operations: u64) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(max_operations)
        .set_max_call_levels(32)
        .set_max_expr_depths(64, 64)
        .set_max_string_size(1 << 20)
        .set_max_array_size(10_000)
        .set_max_map_size(10_000)
        .set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new())
        .disable_symbol("eval");
    engine.register_fn("lookup", lookup);
    engine.register_fn("query", query);
    engine.register_fn("write", write);
    engine.on_print(|text| tracing::info!(target: "syncgate::plugins", "{text}"));
    engine.on_debug(|text, source, position| {
        tracing::debug!(target: "syncgate::plugins", source = source.unwrap_or("?"), %position, "{text}");
    });
    engine
}

fn fail(message: String) -> Box<EvalAltResult> {
    message.into()
}

fn tag_of(context: &NativeCallContext) -> Option<CallTag> {
    context
        .tag()
        .and_then(|tag| tag.clone().try_cast::<CallTag>())
}

/// `lookup(table, key)`: the live row, or `()` when there is none the caller may read.
fn lookup(
    context: NativeCallContext,
    table: &str,
    key: Dynamic,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let Some(reads) = tag_of(&context).and_then(|tag| tag.reads) else {
        return Err(fail("lookup is not available here".into()));
    };
    let key: serde_json::Value =
        rhai::serde::from_dynamic(&key).map_err(|e| fail(e.to_string()))?;
    match reads
        .lookup(table, &key)
        .map_err(|message| fail(format!("lookup(\"{table}\"): {message}")))?
    {
        Some(row) => rhai::serde::to_dynamic(serde_json::Value::Object(row)),
        None => Ok(Dynamic::UNIT),
    }
}

/// `query(table, filter, limit)`: an array of the live rows the caller may read that match
/// `filter` (a map of column to a value, or to a map of `eq`, `ne`, `lt`, `lte`, `gt`, `gte`),
/// by primary key, at most `limit`.
fn query(
    context: NativeCallContext,
    table: &str,
    filter: rhai::Map,
    limit: i64,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let Some(reads) = tag_of(&context).and_then(|tag| tag.reads) else {
        return Err(fail("query is not available here".into()));
    };
    let filter: serde_json::Map<String, serde_json::Value> =
        rhai::serde::from_dynamic(&Dynamic::from_map(filter)).map_err(|e| fail(e.to_string()))?;
    let rows = reads
        .query(table, &filter, limit)
        .map_err(|message| fail(format!("query(\"{table}\"): {message}")))?;
    let rows: Vec<serde_json::Value> = rows.into_iter().map(serde_json::Value::Object).collect();
    rhai::serde::to_dynamic(serde_json::Value::Array(rows))
}

/// `write(table, action, row)`: asks for a write of another row (`insert`, `update`, `upsert` or
/// `delete`), applied in the same transaction once the hook returns.
fn write(
    context: NativeCallContext,
    table: &str,
    action: &str,
    row: rhai::Map,
) -> Result<(), Box<EvalAltResult>> {
    let Some(tag) = tag_of(&context) else {
        return Err(fail("write is not available here".into()));
    };
    let Some(writes) = tag.writes else {
        return Err(fail(
            "write is only available in validate and transform (the write has not committed yet)"
                .into(),
        ));
    };
    if !["insert", "update", "upsert", "delete"].contains(&action) {
        return Err(fail(format!(
            "write(\"{table}\", \"{action}\"): the action is insert, update, upsert or delete"
        )));
    }
    let row: serde_json::Map<String, serde_json::Value> =
        rhai::serde::from_dynamic(&Dynamic::from_map(row)).map_err(|e| fail(e.to_string()))?;
    let mut requested = writes.lock().map_err(|_| fail("write: poisoned".into()))?;
    if requested.len() >= tag.max_writes {
        return Err(fail(format!(
            "write(\"{table}\"): one hook call may write at most {} rows \
             (plugins.max_hook_writes)",
            tag.max_writes
        )));
    }
    requested.push(HookWrite {
        table: table.to_string(),
        action: action.to_string(),
        row,
    });
    Ok(())
}
