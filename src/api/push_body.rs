//! The body of a push, as the generic endpoint (`POST /sync/push`) and every per-table endpoint
//! (`POST /tables/{table}/push`) read it: one type for both, refusing fields it does not know.
//! The document describes it as `PushRequest` and `<table>_PushRequest`.

use super::error::ApiError;
use crate::sync::types::{Action, Operation, Resolve};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A batch of operations from one device.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushBody {
    pub device_id: String,
    /// Absent or `null`: atomic.
    #[serde(default)]
    pub atomic: Option<bool>,
    pub operations: Vec<PushOperation>,
}

/// One operation as sent. `table` names its table on the generic endpoint; a per-table
/// endpoint takes it from its path, and an operation there names none.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushOperation {
    op_id: Option<String>,
    table: Option<String>,
    action: Action,
    /// Declared by reference to the table's row schema (per table), so not nullable: `null` is
    /// refused.
    #[serde(default)]
    data: Map<String, Value>,
    base_version: Option<i64>,
    /// Declared by reference too: `null` is refused.
    #[serde(default, deserialize_with = "present")]
    resolve: Option<Resolve>,
}

/// A field left out, or holding a value (`null` refused).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

impl PushBody {
    /// The device, atomicity and operations for the sync core. On the generic endpoint
    /// (`path_table` is `None`) each operation names its table; on a per-table endpoint the path
    /// names it, and an operation may not.
    pub fn into_batch(
        self,
        path_table: Option<&str>,
    ) -> Result<(String, bool, Vec<Operation>), ApiError> {
        let operations = self
            .operations
            .into_iter()
            .enumerate()
            .map(|(index, mut op)| {
                let table = match (op.table.take(), path_table) {
                    (Some(table), None) => table,
                    (None, Some(table)) => table.to_string(),
                    (None, None) => {
                        return Err(shape_error(format!(
                            "operations[{index}]: missing field `table`"
                        )));
                    }
                    (Some(_), Some(_)) => {
                        return Err(shape_error(format!(
                            "operations[{index}]: unknown field `table` (the path names the table)"
                        )));
                    }
                };
                Ok(op.into_operation(table))
            })
            .collect::<Result<_, ApiError>>()?;
        Ok((self.device_id, self.atomic.unwrap_or(true), operations))
    }
}

impl PushOperation {
    fn into_operation(self, table: String) -> Operation {
        Operation {
            op_id: self.op_id,
            table,
            action: self.action,
            data: self.data,
            base_version: self.base_version,
            resolve: self.resolve,
        }
    }
}

/// A body that is JSON but not a push, answered like serde's own shape errors.
fn shape_error(reason: String) -> ApiError {
    ApiError::unreadable_body(false, &reason, None)
}
