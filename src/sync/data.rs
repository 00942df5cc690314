//! Checking the `data` of an operation against the table's columns, and completing new rows.

use super::SyncError;
use crate::schema::TableDef;
use crate::schema::model::ConflictStrategy;
use crate::schema::values::{check_value, normalize};
use serde_json::{Map, Value};

/// The field clients may send back with a row; it is the version they based their change on.
pub const VERSION_FIELD: &str = "_version";

/// Checks every sent value and returns them normalised, without `_version`.
pub fn check_sent(
    table: &TableDef,
    data: Map<String, Value>,
) -> Result<Map<String, Value>, SyncError> {
    let mut checked = Map::with_capacity(data.len());
    for (name, value) in data {
        if name == VERSION_FIELD {
            // The base version, read by the push (`base_version` wins); only an integer.
            if !(value.is_i64() || value.is_null()) {
                return Err(SyncError::invalid(
                    VERSION_FIELD,
                    "`_version` is the row version the change is based on: an integer",
                ));
            }
            continue;
        }
        let Some(column) = table.spec.columns.get(&name) else {
            let mut message = format!("unknown column `{name}` in table `{}`", table.name);
            if let Some(best) =
                crate::suggest::did_you_mean(&name, table.spec.columns.keys().map(String::as_str))
            {
                message.push_str(&format!(" — did you mean `{best}`?"));
            }
            return Err(SyncError::invalid(&name, message));
        };
        check_value(column, &value)
            .map_err(|reason| SyncError::invalid(&name, format!("`{name}`: {reason}")))?;
        let value = normalize(column, value);
        checked.insert(name, value);
    }
    Ok(checked)
}

/// The primary key value of checked data.
pub fn key_of(table: &TableDef, data: &Map<String, Value>) -> Result<Value, SyncError> {
    let pk = &table.spec.primary_key;
    match data.get(pk) {
        Some(Value::Null) | None => Err(SyncError::invalid(
            pk,
            format!("the primary key `{pk}` is required in `data`"),
        )),
        Some(key) => Ok(key.clone()),
    }
}

/// A whole new row: the sent values, then defaults, then null where the column allows it.
pub fn complete_new_row(
    table: &TableDef,
    sent: &Map<String, Value>,
) -> Result<Map<String, Value>, SyncError> {
    let mut row = Map::new();
    for (name, column) in &table.spec.columns {
        let value = match (sent.get(name), &column.default) {
            (Some(value), _) => value.clone(),
            (None, Some(default)) => normalize(column, default.clone()),
            (None, None) if column.nullable => Value::Null,
            (None, None) => {
                return Err(SyncError::invalid(
                    name,
                    format!("`{name}` is required: the column is not nullable and has no default"),
                ));
            }
        };
        row.insert(name.clone(), value);
    }
    Ok(row)
}

/// `base` with the sent values laid over it. A client's write (`from_client`) merges JSON
/// objects key by key, keeping keys only the server has, in the columns declared `merge` and in
/// every JSON column of a `merge` table; a row replicated from the hub replaces them whole.
pub fn overlay(
    table: &TableDef,
    base: &Map<String, Value>,
    sent: &Map<String, Value>,
    from_client: bool,
) -> Map<String, Value> {
    let merge_table = table.spec.conflict == ConflictStrategy::Merge;
    let mut row = base.clone();
    for (name, value) in sent {
        let merge_json =
            from_client && (merge_table || table.spec.columns.get(name).is_some_and(|c| c.merge));
        let merged = match (merge_json, row.get(name), value) {
            (true, Some(Value::Object(server)), Value::Object(client)) => {
                let mut combined = server.clone();
                combined.extend(client.clone());
                Value::Object(combined)
            }
            _ => value.clone(),
        };
        row.insert(name.clone(), merged);
    }
    row
}
