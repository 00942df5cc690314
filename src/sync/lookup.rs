//! How hook scripts read rows: `lookup(table, key)` and `query(table, filter, limit)`, within
//! the caller's scope, as the write in progress sees them — committed rows (read on the pool's
//! own connections) overlaid with the rows this transaction has written so far (kept by the
//! writer in an [`Overlay`]), so that a hook sees the earlier writes of its own batch.
//!
//! Scripts are synchronous, so a read blocks this worker thread; the gateway runs on tokio's
//! multi-threaded runtime, which allows that.

use super::{Access, access, admits, visible_row};
use crate::auth::Caller;
use crate::plugins::{HookReads, Lookup};
use crate::schema::model::ColumnType;
use crate::schema::{Schema, TableDef, values};
use crate::store::row_query::{self, Compare, Condition};
use crate::store::row_scope::Admission;
use crate::store::rows::StoredRow;
use sea_orm::DatabaseConnection;
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Rows written by the transaction in progress, by table and key text (the writer's slots).
pub type Overlay = Arc<Mutex<HashMap<(String, String), StoredRow>>>;

/// Most rows one `query` returns (`limit` above it is refused).
pub const MAX_QUERY_ROWS: i64 = 1000;

/// What reads need besides the transaction's own rows: set once per request.
#[derive(Clone)]
pub struct ReadsAsCaller {
    pub db: DatabaseConnection,
    pub schema: Arc<Schema>,
    pub caller: Caller,
}

impl ReadsAsCaller {
    /// The reads of a hook called while `overlay` holds the transaction's rows.
    pub fn with(&self, overlay: Overlay) -> Lookup {
        Arc::new(HookRowReads {
            base: self.clone(),
            overlay,
        })
    }
}

struct HookRowReads {
    base: ReadsAsCaller,
    overlay: Overlay,
}

impl HookRowReads {
    fn readable(&self, table: &str) -> Result<Access<'_>, String> {
        let access =
            access(&self.base.schema, &self.base.caller, table).map_err(|e| e.to_string())?;
        if !access.permissions.read {
            return Err(format!("your role may not read table `{table}`"));
        }
        Ok(access)
    }

    /// The overlay's rows of `table`.
    fn written(&self, table: &TableDef) -> Vec<StoredRow> {
        let overlay = self.overlay.lock().expect("overlay lock");
        overlay
            .iter()
            .filter(|((name, _), _)| *name == table.name)
            .map(|(_, row)| row.clone())
            .collect()
    }

    /// Whether a row of the overlay is in the caller's scope (parents looked up as stored).
    /// `admits` decides rows by their own columns too; asking the scope first spares those
    /// rows blocking the worker thread.
    fn in_scope(&self, access: &Access<'_>, row: &StoredRow) -> Result<bool, String> {
        match access.scope.admits(&row.values) {
            Admission::Yes => Ok(true),
            Admission::No => Ok(false),
            Admission::IfParent(..) => {
                block_on(admits(&self.base.db, access, &row.values))?.map_err(|e| e.to_string())
            }
        }
    }
}

impl HookReads for HookRowReads {
    fn lookup(&self, table: &str, key: &Value) -> Result<Option<Map<String, Value>>, String> {
        let access = self.readable(table)?;
        let pk = &access.table.spec.columns[&access.table.spec.primary_key];
        let key = values::normalize(pk, key.clone());
        let written = self
            .overlay
            .lock()
            .expect("overlay lock")
            .get(&(access.table.name.clone(), key.to_string()))
            .cloned();
        let found = match written {
            Some(row) if row.deleted => None,
            Some(row) => self.in_scope(&access, &row)?.then_some(row),
            None => {
                block_on(visible_row(&self.base.db, &access, &key))?.map_err(|e| e.to_string())?
            }
        };
        Ok(found.map(StoredRow::into_client))
    }

    fn query(
        &self,
        table: &str,
        filter: &Map<String, Value>,
        limit: i64,
    ) -> Result<Vec<Map<String, Value>>, String> {
        if !(1..=MAX_QUERY_ROWS).contains(&limit) {
            return Err(format!("limit must be 1 to {MAX_QUERY_ROWS}, not {limit}"));
        }
        let access = self.readable(table)?;
        let conditions = conditions(access.table, filter)?;
        let written = self.written(access.table);
        // Rows the transaction rewrote may stand among the stored ones: read as many more.
        let stored = block_on(row_query::matching(
            &self.base.db,
            access.table,
            &access.scope,
            &conditions,
            limit as u64 + written.len() as u64,
        ))?
        .map_err(|e| e.to_string())?;
        let pk = &access.table.spec.primary_key;
        let rewritten: std::collections::HashSet<String> = written
            .iter()
            .map(|row| row.values[pk].to_string())
            .collect();
        let mut rows: Vec<StoredRow> = stored
            .into_iter()
            .filter(|row| !rewritten.contains(&row.values[pk].to_string()))
            .collect();
        for row in written {
            if !row.deleted
                && conditions.iter().all(|c| meets(&row.values, c))
                && self.in_scope(&access, &row)?
            {
                rows.push(row);
            }
        }
        let kind = access.table.spec.columns[pk].kind;
        rows.sort_by(|a, b| compare(kind, &a.values[pk], &b.values[pk]));
        rows.truncate(limit as usize);
        Ok(rows.into_iter().map(StoredRow::into_client).collect())
    }
}

fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    let handle = tokio::runtime::Handle::try_current().map_err(|_| "no runtime".to_string())?;
    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return Err("reads from hooks need the multi-threaded runtime".into());
    }
    Ok(tokio::task::block_in_place(|| handle.block_on(future)))
}

/// The filter as conditions on declared columns: `{column: value}` or
/// `{column: {op: value, …}}` with `eq`, `ne`, `lt`, `lte`, `gt`, `gte`.
fn conditions(table: &TableDef, filter: &Map<String, Value>) -> Result<Vec<Condition>, String> {
    let mut conditions = Vec::new();
    for (name, wanted) in filter {
        let column = table
            .spec
            .columns
            .get(name)
            .ok_or_else(|| format!("`{name}` is not a column of table `{}`", table.name))?;
        let tests: Vec<(Compare, &Value)> = match wanted {
            Value::Object(tests) => tests
                .iter()
                .map(|(op, value)| {
                    Compare::parse(op)
                        .map(|compare| (compare, value))
                        .ok_or_else(|| {
                            format!("`{name}`: `{op}` is not eq, ne, lt, lte, gt or gte")
                        })
                })
                .collect::<Result<_, _>>()?,
            value => vec![(Compare::Eq, value)],
        };
        for (compare, value) in tests {
            let value = if value.is_null() {
                if !matches!(compare, Compare::Eq | Compare::Ne) {
                    return Err(format!("`{name}`: null compares only with eq or ne"));
                }
                Value::Null
            } else {
                let lenient = crate::schema::model::Column {
                    nullable: true,
                    min: None,
                    max: None,
                    min_length: None,
                    max_length: None,
                    ..column.clone()
                };
                values::check_value(&lenient, value)
                    .map_err(|reason| format!("`{name}`: {reason}"))?;
                values::normalize(column, value.clone())
            };
            conditions.push(Condition {
                column: name.clone(),
                kind: column.kind,
                compare,
                value,
            });
        }
    }
    Ok(conditions)
}

/// Whether a row in memory meets a condition, comparing as the database does.
fn meets(row: &Map<String, Value>, condition: &Condition) -> bool {
    let held = row.get(&condition.column).unwrap_or(&Value::Null);
    if condition.value.is_null() || held.is_null() {
        let both = condition.value.is_null() == held.is_null();
        return match condition.compare {
            Compare::Eq => both && condition.value.is_null(),
            Compare::Ne => condition.value.is_null() && !held.is_null(),
            _ => false,
        };
    }
    let order = compare(condition.kind, held, &condition.value);
    match condition.compare {
        Compare::Eq => order == Ordering::Equal,
        Compare::Ne => order != Ordering::Equal,
        Compare::Lt => order == Ordering::Less,
        Compare::Lte => order != Ordering::Greater,
        Compare::Gt => order == Ordering::Greater,
        Compare::Gte => order != Ordering::Less,
    }
}

/// Two values of a column of `kind`, ordered as the database orders them.
fn compare(kind: ColumnType, a: &Value, b: &Value) -> Ordering {
    let number = |value: &Value| match value {
        Value::Number(n) => n.as_f64(),
        Value::String(text) => text.parse::<f64>().ok(),
        _ => None,
    };
    let instant = |value: &Value| {
        value
            .as_str()
            .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
    };
    match kind {
        ColumnType::Integer | ColumnType::Real | ColumnType::Decimal => {
            number(a).partial_cmp(&number(b)).unwrap_or(Ordering::Equal)
        }
        ColumnType::Timestamp => instant(a).cmp(&instant(b)),
        ColumnType::Boolean => a.as_bool().cmp(&b.as_bool()),
        _ => match (a, b) {
            (Value::String(a), Value::String(b)) => a.cmp(b),
            _ => a.to_string().cmp(&b.to_string()),
        },
    }
}
