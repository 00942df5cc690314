//! One Rhai hook script: compiled once, called by function name with JSON-shaped arguments.

use super::engine::CallTag;
use super::error::HookError;
use super::{HookContext, HookOp};
use rhai::{AST, CallFnOptions, Dynamic, Engine, EvalAltResult, Scope};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

pub struct ScriptHook {
    pub name: String,
    pub path: PathBuf,
    engine: Arc<Engine>,
    ast: AST,
    functions: HashSet<String>,
}

impl ScriptHook {
    pub fn new(name: String, path: PathBuf, engine: Arc<Engine>, ast: AST) -> Self {
        let functions = ast.iter_functions().map(|f| f.name.to_string()).collect();
        Self {
            name,
            path,
            engine,
            ast,
            functions,
        }
    }

    pub fn defines(&self, function: &str) -> bool {
        self.functions.contains(function)
    }

    /// `validate(op, ctx)`: a throw rejects the operation with the thrown message.
    pub fn validate(&self, op: &HookOp, ctx: &HookContext) -> Result<(), HookError> {
        if !self.defines("validate") {
            return Ok(());
        }
        match self.call("validate", vec![op.to_json(), ctx.to_json()], ctx) {
            Ok(_) => Ok(()),
            Err(CallError::Thrown(message)) => Err(HookError::Rejected {
                hook: self.name.clone(),
                message,
            }),
            Err(CallError::Failed(message)) => Err(self.failed("validate", message)),
        }
    }

    /// `transform(op, ctx)`: the row to store (a map), or `()` to leave it as it is.
    pub fn transform(
        &self,
        op: &HookOp,
        ctx: &HookContext,
    ) -> Result<Option<Map<String, Value>>, HookError> {
        if !self.defines("transform") {
            return Ok(None);
        }
        let result = self
            .call("transform", vec![op.to_json(), ctx.to_json()], ctx)
            .map_err(|e| self.failed("transform", e.message()))?;
        self.row_or_unit("transform", result)
    }

    /// `on_conflict(server, client, ctx)`: the winning row, or `()` to keep the server's.
    pub fn on_conflict(
        &self,
        server: &Map<String, Value>,
        client: &Map<String, Value>,
        ctx: &HookContext,
    ) -> Result<Option<Map<String, Value>>, HookError> {
        let args = vec![
            Value::Object(server.clone()),
            Value::Object(client.clone()),
            ctx.to_json(),
        ];
        let result = self
            .call("on_conflict", args, ctx)
            .map_err(|e| self.failed("on_conflict", e.message()))?;
        self.row_or_unit("on_conflict", result)
    }

    pub fn after_commit(&self, op: &HookOp, ctx: &HookContext) -> Result<(), HookError> {
        if !self.defines("after_commit") {
            return Ok(());
        }
        self.call("after_commit", vec![op.to_json(), ctx.to_json()], ctx)
            .map(|_| ())
            .map_err(|e| self.failed("after_commit", e.message()))
    }

    fn row_or_unit(
        &self,
        function: &str,
        result: Dynamic,
    ) -> Result<Option<Map<String, Value>>, HookError> {
        if result.is_unit() {
            return Ok(None);
        }
        match rhai::serde::from_dynamic::<Value>(&result) {
            Ok(Value::Object(row)) => Ok(Some(row)),
            _ => Err(self.failed(
                function,
                format!(
                    "must return the row (a map) or (), not a {}",
                    result.type_name()
                ),
            )),
        }
    }

    fn failed(&self, function: &str, message: String) -> HookError {
        HookError::Failed {
            hook: self.name.clone(),
            function: function.to_string(),
            message: format!("{message} ({})", self.path.display()),
        }
    }

    fn call(
        &self,
        function: &str,
        args: Vec<Value>,
        ctx: &HookContext,
    ) -> Result<Dynamic, CallError> {
        let args: Vec<Dynamic> = args
            .into_iter()
            .map(|value| rhai::serde::to_dynamic(value).unwrap_or(Dynamic::UNIT))
            .collect();
        let mut scope = Scope::new();
        let options = CallFnOptions::new().with_tag(CallTag {
            reads: ctx.lookup.clone(),
            writes: ctx.writes.clone(),
            max_writes: ctx.max_writes,
        });
        self.engine
            .call_fn_with_options::<Dynamic>(options, &mut scope, &self.ast, function, args)
            .map_err(|error| CallError::from_rhai(&error))
    }
}

enum CallError {
    /// The script threw a value on purpose.
    Thrown(String),
    Failed(String),
}

impl CallError {
    fn from_rhai(error: &EvalAltResult) -> Self {
        let inner = error.unwrap_inner();
        let position = inner.position();
        let at = if position.is_none() {
            String::new()
        } else {
            format!(" at line {}", position.line().unwrap_or(0))
        };
        match inner {
            EvalAltResult::ErrorRuntime(value, _) => {
                CallError::Thrown(match value.clone().into_string() {
                    Ok(text) => text,
                    Err(_) => value.to_string(),
                })
            }
            EvalAltResult::ErrorTooManyOperations(_) => CallError::Failed(format!(
                "the script ran too long and was stopped{at} (more operations than `plugins.max_operations`; a loop that never ends?)"
            )),
            EvalAltResult::ErrorStackOverflow(_) => {
                CallError::Failed(format!("the script recursed too deeply{at}"))
            }
            other => CallError::Failed(format!("{other}{at}")),
        }
    }

    fn message(self) -> String {
        match self {
            CallError::Thrown(message) => format!("threw: {message}"),
            CallError::Failed(message) => message,
        }
    }
}
