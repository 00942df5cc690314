//! Per-table hook plugins: Rhai scripts in `plugins/NAME.rhai`, or webhooks (a URL in `hooks`).
//!
//! A hook may define `validate(op, ctx)` (throw to reject), `transform(op, ctx)` (return the row
//! to store), `on_conflict(server, client, ctx)` (return the winning row, or `()` to keep the
//! server's) and `after_commit(op, ctx)` (observe only). Hooks of a table run in the order the
//! schema lists them. Scripts are compiled once per load and run sandboxed.
//!
//! Scripts read rows with `lookup(table, key)` and `query(table, filter, limit)`, and from
//! `validate` and `transform` ask for writes to other rows with `write(table, action, row)`:
//! the write pipeline applies them in the same transaction once the hook returns.

mod engine;
mod error;
mod load;
mod script;
pub mod webhook;

pub use error::HookError;
pub use load::load;

use crate::schema::TableDef;
use script::ScriptHook;
use serde_json::{Map, Value};
use std::collections::HashMap;
use webhook::Webhook;

/// The hook functions a script may define.
pub const HOOK_FUNCTIONS: [&str; 4] = ["validate", "transform", "on_conflict", "after_commit"];

/// Every hook the schema refers to, ready to run.
#[derive(Default)]
pub struct Plugins {
    hooks: HashMap<String, Hook>,
}

enum Hook {
    Script(ScriptHook),
    Webhook(Webhook),
}

/// What a hook sees of the operation.
#[derive(Debug, Clone)]
pub struct HookOp {
    pub action: String,
    pub table: String,
    pub key: Value,
    /// The columns the client sent.
    pub data: Map<String, Value>,
    /// The row about to be stored (all columns).
    pub row: Map<String, Value>,
    /// The row as the server has it, when it exists.
    pub current: Option<Map<String, Value>>,
    pub op_id: Option<String>,
}

/// Who and when: `user`, `role`, `branch`, `device`, `table`, `action`, `now`; how a script
/// reads other rows (`lookup`, `query`) and where its `write` requests go.
#[derive(Clone)]
pub struct HookContext {
    pub user: String,
    pub role: String,
    pub branch: Option<Value>,
    pub device: String,
    pub table: String,
    pub action: String,
    pub now: String,
    pub lookup: Option<Lookup>,
    /// Where `write(table, action, row)` puts its requests; `None` where writing is not
    /// allowed (`on_conflict`, `after_commit`).
    pub writes: Option<HookWrites>,
    /// Most `write` calls of one hook call (`plugins.max_hook_writes`).
    pub max_writes: usize,
}

/// How scripts read rows the caller may read, as the write in progress sees them (its batch's
/// earlier writes included).
pub trait HookReads: Send + Sync {
    /// `lookup(table, key)`: the live row, or `None`.
    fn lookup(&self, table: &str, key: &Value) -> Result<Option<Map<String, Value>>, String>;
    /// `query(table, filter, limit)`: live rows matching `filter`, by primary key, at most
    /// `limit`.
    fn query(
        &self,
        table: &str,
        filter: &Map<String, Value>,
        limit: i64,
    ) -> Result<Vec<Map<String, Value>>, String>;
}

pub type Lookup = std::sync::Arc<dyn HookReads>;

/// A write a hook asked for: `write(table, action, row)`.
#[derive(Debug, Clone)]
pub struct HookWrite {
    pub table: String,
    pub action: String,
    pub row: Map<String, Value>,
}

pub type HookWrites = std::sync::Arc<std::sync::Mutex<Vec<HookWrite>>>;

impl std::fmt::Debug for HookContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookContext")
            .field("user", &self.user)
            .field("table", &self.table)
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

impl HookOp {
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "action": self.action,
            "table": self.table,
            "key": self.key,
            "data": self.data,
            "row": self.row,
            "current": self.current,
            "op_id": self.op_id,
        })
    }
}

impl HookContext {
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "user": self.user,
            "role": self.role,
            "branch": self.branch,
            "device": self.device,
            "table": self.table,
            "action": self.action,
            "now": self.now,
        })
    }
}

impl Plugins {
    /// Runs `validate` then `transform` of each of the table's hooks, in order; returns the row to
    /// store.
    pub async fn before_write(
        &self,
        table: &TableDef,
        op: HookOp,
        ctx: &HookContext,
    ) -> Result<Map<String, Value>, HookError> {
        self.run_before_write(table, op, ctx)
            .await
            .map_err(HookError::counted)
    }

    async fn run_before_write(
        &self,
        table: &TableDef,
        mut op: HookOp,
        ctx: &HookContext,
    ) -> Result<Map<String, Value>, HookError> {
        for name in &table.spec.hooks {
            match self.hooks.get(name) {
                Some(Hook::Script(script)) => {
                    script.validate(&op, ctx)?;
                    if op.action != "delete"
                        && let Some(row) = script.transform(&op, ctx)?
                    {
                        op.row = row;
                    }
                }
                Some(Hook::Webhook(hook)) => {
                    if let Some(row) = hook.before_write(&op, ctx).await?
                        && op.action != "delete"
                    {
                        op.row = row;
                    }
                }
                None => return Err(HookError::missing(name)),
            }
        }
        Ok(op.row)
    }

    /// Asks the table's first hook that defines `on_conflict` for the winning row; `None` keeps
    /// the server's row.
    pub fn on_conflict(
        &self,
        table: &TableDef,
        server: &Map<String, Value>,
        client: &Map<String, Value>,
        ctx: &HookContext,
    ) -> Result<Option<Map<String, Value>>, HookError> {
        for name in &table.spec.hooks {
            if let Some(Hook::Script(script)) = self.hooks.get(name)
                && script.defines("on_conflict")
            {
                return script
                    .on_conflict(server, client, ctx)
                    .map_err(HookError::counted);
            }
        }
        Err(HookError::Failed {
            hook: table.spec.hooks.join(", "),
            function: "on_conflict".into(),
            message: "no hook of this table defines on_conflict".into(),
        })
    }

    /// Runs the table's script `after_commit` functions; a failure is logged, never returned:
    /// the write has committed.
    pub fn after_commit(&self, table: &TableDef, op: &HookOp, ctx: &HookContext) {
        for name in &table.spec.hooks {
            if let Some(Hook::Script(script)) = self.hooks.get(name)
                && let Err(error) = script.after_commit(op, ctx).map_err(HookError::counted)
            {
                tracing::warn!(table = %table.name, %error, "after_commit hook failed");
            }
        }
    }

    /// The webhook URLs among the table's hooks, for `after_commit` deliveries.
    pub fn webhooks<'a>(&'a self, table: &'a TableDef) -> impl Iterator<Item = &'a Webhook> + 'a {
        table
            .spec
            .hooks
            .iter()
            .filter_map(|name| match self.hooks.get(name) {
                Some(Hook::Webhook(hook)) => Some(hook),
                _ => None,
            })
    }

    pub fn len(&self) -> usize {
        self.hooks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }
}
