//! Loading the hooks a schema refers to: compiling each script once, and checking that the
//! schema's use of hooks makes sense. Used at start, on reload and by `syncgate check`.

use super::engine::sandboxed;
use super::script::ScriptHook;
use super::webhook::{Webhook, WebhookSettings};
use super::{HOOK_FUNCTIONS, Hook, Plugins};
use crate::key_positions::Position;
use crate::schema::is_webhook;
use crate::schema::model::ConflictStrategy;
use crate::schema::{Diagnostic, Schema};
use std::path::Path;
use std::sync::Arc;

/// Compiles every hook the schema names. Returns every mistake at once.
pub fn load(
    schema: &Schema,
    plugins_dir: &Path,
    max_operations: u64,
    webhooks: &WebhookSettings,
) -> Result<Plugins, Vec<Diagnostic>> {
    let engine = Arc::new(sandboxed(max_operations));
    let mut plugins = Plugins::default();
    let mut diagnostics = Vec::new();
    for table in schema.tables.values() {
        for name in &table.spec.hooks {
            if plugins.hooks.contains_key(name) {
                continue;
            }
            if is_webhook(name) {
                plugins
                    .hooks
                    .insert(name.clone(), Hook::Webhook(Webhook::new(name, webhooks)));
                continue;
            }
            let path = plugins_dir.join(format!("{name}.rhai"));
            let source = match std::fs::read_to_string(&path) {
                Ok(source) => source,
                // A missing script is already reported by the schema checks.
                Err(_) => continue,
            };
            match engine.compile(&source) {
                Ok(ast) => {
                    let script = ScriptHook::new(name.clone(), path.clone(), engine.clone(), ast);
                    if !HOOK_FUNCTIONS.iter().any(|f| script.defines(f)) {
                        diagnostics.push(
                            Diagnostic::in_file(&path, "the script defines no hook function")
                                .help("define validate(op, ctx), transform(op, ctx), on_conflict(server, client, ctx) or after_commit(op, ctx)"),
                        );
                    }
                    plugins.hooks.insert(name.clone(), Hook::Script(script));
                }
                Err(error) => {
                    let position = error.position();
                    let diagnostic =
                        Diagnostic::in_file(&path, format!("syntax error: {}", error.err_type()));
                    diagnostics.push(match (position.line(), position.position()) {
                        (Some(line), column) => diagnostic.at(Position {
                            line,
                            column: column.unwrap_or(1),
                        }),
                        (None, _) => diagnostic,
                    });
                }
            }
        }
    }
    for table in schema.tables.values() {
        if table.spec.conflict != ConflictStrategy::Hook {
            continue;
        }
        let decides = table.spec.hooks.iter().any(|name| {
            matches!(plugins.hooks.get(name), Some(Hook::Script(script)) if script.defines("on_conflict"))
        });
        if !decides {
            diagnostics.push(
                Diagnostic::in_file(&table.file, "`conflict` is `hook`, which needs a hook script that defines on_conflict(server, client, ctx)")
                    .table(&table.name),
            );
        }
    }
    if diagnostics.is_empty() {
        Ok(plugins)
    } else {
        Err(diagnostics)
    }
}
