//! Operations of a push, as the JSON a client sends.

use serde_json::{Map, Value, json};

/// One operation: `action` on a row of `table` with `data`, named by `op_id` when given (the
/// server answers a repeated op id with its first result).
pub fn operation(op_id: Option<&str>, table: &str, action: &str, data: Value) -> Value {
    let mut op = Map::new();
    if let Some(op_id) = op_id {
        op.insert("op_id".into(), json!(op_id));
    }
    op.insert("table".into(), json!(table));
    op.insert("action".into(), json!(action));
    op.insert("data".into(), data);
    Value::Object(op)
}

/// An insert of `data` into `table`, named `op_id`.
pub fn insert_op(op_id: &str, table: &str, data: Value) -> Value {
    operation(Some(op_id), table, "insert", data)
}

/// An insert of `data` into `table`, without an op id.
pub fn insert(table: &str, data: Value) -> Value {
    operation(None, table, "insert", data)
}

/// An insert into `items` of the sync schema: the row `id`, named `id`.
pub fn insert_item(id: &str) -> Value {
    insert("items", json!({"id": id, "name": id}))
}
