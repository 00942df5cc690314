//! The sandboxed Rhai engine every script runs in: no module imports (so no file access), no
//! `eval`, no network, and limits on operations, call depth and data sizes so a runaway script
//! stops with an error instead of hanging a request.

use rhai::Engine;

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
    engine.on_print(|text| tracing::info!(target: "syncgate::plugins", "{text}"));
    engine.on_debug(|text, source, position| {
        tracing::debug!(target: "syncgate::plugins", source = source.unwrap_or("?"), %position, "{text}");
    });
    engine
}
