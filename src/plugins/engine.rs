//! The sandboxed Rhai engine every script runs in: no module imports (so no file access), no
//! `eval`, no network, and limits on operations, call depth and data sizes so a runaway script
//! stops with an error instead of hanging a request.

use super::Lookup;
use rhai::{Dynamic, Engine, EvalAltResult, NativeCallContext};

/// The `lookup` of the call in progress, passed to scripts as the evaluation's tag.
#[derive(Clone)]
pub struct LookupTag(pub Lookup);

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
    engine.on_print(|text| tracing::info!(target: "syncgate::plugins", "{text}"));
    engine.on_debug(|text, source, position| {
        tracing::debug!(target: "syncgate::plugins", source = source.unwrap_or("?"), %position, "{text}");
    });
    engine
}

/// `lookup(table, key)`: the live row, or `()` when there is none the caller may read.
fn lookup(
    context: NativeCallContext,
    table: &str,
    key: Dynamic,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let fail = |message: String| -> Box<EvalAltResult> { message.into() };
    let Some(LookupTag(lookup)) = context
        .tag()
        .and_then(|tag| tag.clone().try_cast::<LookupTag>())
    else {
        return Err(fail("lookup is not available here".into()));
    };
    let key: serde_json::Value =
        rhai::serde::from_dynamic(&key).map_err(|e| fail(e.to_string()))?;
    match lookup(table, &key).map_err(|message| fail(format!("lookup(\"{table}\"): {message}")))? {
        Some(row) => rhai::serde::to_dynamic(serde_json::Value::Object(row)),
        None => Ok(Dynamic::UNIT),
    }
}
