//! Reading and writing the rows of schema tables. Values travel as JSON in the form
//! `schema::values::normalize` gives them, and are bound with the casts PostgreSQL's typed
//! columns need; reads map every column type explicitly.

use super::RowScope;
use super::ddl::{bind_value, quote};
use super::sql::SqlBuilder;
use crate::schema::TableDef;
use crate::schema::model::ColumnType;
use crate::schema::values::format_timestamp;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult};
use serde_json::{Map, Value};

/// A row as stored: its declared columns and its system columns.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    pub values: Map<String, Value>,
    pub version: i64,
    pub seq: i64,
    pub deleted: bool,
    /// When the row last changed, Unix milliseconds.
    pub changed_at: i64,
}

impl StoredRow {
    /// The row as clients see it: its columns and `_version`.
    pub fn to_client(&self) -> Map<String, Value> {
        self.clone().into_client()
    }

    /// [`StoredRow::to_client`] without copying the row.
    pub fn into_client(self) -> Map<String, Value> {
        let mut row = self.values;
        row.insert("_version".into(), Value::from(self.version));
        row
    }
}

/// Which rows a scan returns.
pub struct Scan<'a> {
    pub scope: &'a RowScope,
    pub after_seq: i64,
    /// The last feed position to read: a reader's queries all stop at the head it read first,
    /// so that what one query saw and another did not (a commit in between) is never skipped.
    pub upto_seq: i64,
    pub include_deleted: bool,
    pub limit: u64,
}

pub(super) fn select_list(backend: DbBackend, table: &TableDef) -> String {
    let mut list: Vec<String> = table
        .spec
        .columns
        .iter()
        .map(|(name, column)| {
            let quoted = quote(name);
            let text_cast = backend == DbBackend::Postgres
                && matches!(
                    column.kind,
                    ColumnType::Decimal | ColumnType::Date | ColumnType::Uuid | ColumnType::Json
                );
            if text_cast {
                format!("CAST({quoted} AS TEXT) AS {quoted}")
            } else {
                quoted
            }
        })
        .collect();
    list.extend(
        [
            "\"_sg_version\"",
            "\"_sg_seq\"",
            "\"_sg_deleted\"",
            "\"_sg_changed_at\"",
        ]
        .map(String::from),
    );
    list.join(", ")
}

fn push_key_filter(sql: &mut SqlBuilder, table: &TableDef, key: &Value) {
    let pk = &table.spec.primary_key;
    let kind = table.spec.columns[pk].kind;
    let (bound, cast) = bind_value(sql.backend, kind, key);
    sql.push(&quote(pk)).push(" = ").bind(bound, cast);
}

pub(super) fn push_scope_filter(sql: &mut SqlBuilder, scope: &RowScope) {
    match scope {
        RowScope::All => {
            sql.push("1 = 1");
        }
        RowScope::Equals {
            column,
            kind,
            value: Some(value),
            assignees,
        } => {
            let (bound, cast) = bind_value(sql.backend, *kind, value);
            sql.push("(")
                .push(&quote(column))
                .push(" = ")
                .bind(bound, cast);
            if let Some(assignees) = assignees {
                // The JSON array column lists the value (a subject, text or number).
                let (listed, cast) = match value {
                    Value::Number(n) => (sea_orm::Value::BigInt(n.as_i64()), "bigint"),
                    Value::String(text) => (sea_orm::Value::String(Some(text.clone())), "text"),
                    other => (sea_orm::Value::String(Some(other.to_string())), "text"),
                };
                match sql.backend {
                    sea_orm::DbBackend::Postgres => {
                        sql.push(" OR ")
                            .push(&quote(assignees))
                            .push(" @> jsonb_build_array(")
                            .bind(listed, Some(cast))
                            .push(")");
                    }
                    _ => {
                        sql.push(" OR EXISTS (SELECT 1 FROM json_each(")
                            .push(&quote(assignees))
                            .push(") WHERE json_each.value = ")
                            .bind(listed, None)
                            .push(")");
                    }
                }
            }
            sql.push(")");
        }
        RowScope::Equals { value: None, .. } => {
            sql.push("1 = 0");
        }
        // The parent's filter names only the parent's columns, which the subquery's own table
        // answers first. A parent's tombstone still scopes its rows: they stay where they were.
        RowScope::Parent(parent) => {
            sql.push(&format!(
                "{} IN (SELECT {} FROM {} WHERE ",
                quote(&parent.column),
                quote(&parent.key),
                quote(&parent.table)
            ));
            push_scope_filter(sql, &parent.scope);
            sql.push(")");
        }
    }
}

/// The row with primary key `key`, tombstone or not.
pub async fn find(
    db: &impl ConnectionTrait,
    table: &TableDef,
    key: &Value,
) -> Result<Option<StoredRow>, DbErr> {
    let backend = db.get_database_backend();
    let mut sql = SqlBuilder::new(backend);
    sql.push(&format!(
        "SELECT {} FROM {} WHERE ",
        select_list(backend, table),
        quote(&table.name)
    ));
    push_key_filter(&mut sql, table, key);
    match db.query_one_raw(sql.build()).await? {
        Some(result) => decode(backend, table, &result).map(Some),
        None => Ok(None),
    }
}

/// `FROM table WHERE …` of a scan: rows after its position, within its scope, live ones unless
/// it wants tombstones too, in feed order, at most its limit.
pub(super) fn push_scan(sql: &mut SqlBuilder, table: &TableDef, scan: &Scan<'_>) {
    sql.push(&format!("FROM {} WHERE \"_sg_seq\" > ", quote(&table.name)));
    sql.bind(sea_orm::Value::BigInt(Some(scan.after_seq)), None);
    sql.push(" AND \"_sg_seq\" <= ")
        .bind(sea_orm::Value::BigInt(Some(scan.upto_seq)), None);
    sql.push(" AND ");
    push_scope_filter(sql, scan.scope);
    if !scan.include_deleted {
        sql.push(" AND \"_sg_deleted\" = ")
            .bind(sea_orm::Value::Bool(Some(false)), None);
    }
    sql.push(&format!(" ORDER BY \"_sg_seq\" LIMIT {}", scan.limit));
}

/// The highest integer key of `table` in `[low, high)`, tombstones included (a deleted key is
/// never given again).
pub async fn highest_key_between(
    db: &impl ConnectionTrait,
    table: &TableDef,
    low: i64,
    high: i64,
) -> Result<Option<i64>, DbErr> {
    let backend = db.get_database_backend();
    let key = quote(&table.spec.primary_key);
    let mut sql = SqlBuilder::new(backend);
    sql.push(&format!(
        "SELECT MAX({key}) AS k FROM {} WHERE {key} >= ",
        quote(&table.name)
    ));
    sql.bind(sea_orm::Value::BigInt(Some(low)), None)
        .push(&format!(" AND {key} < "))
        .bind(sea_orm::Value::BigInt(Some(high)), None);
    let row = db.query_one_raw(sql.build()).await?;
    Ok(row.and_then(|row| row.try_get::<Option<i64>>("", "k").ok().flatten()))
}

/// Rows in `scope` that are not deleted.
pub async fn count(
    db: &impl ConnectionTrait,
    table: &TableDef,
    scope: &RowScope,
) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let mut sql = SqlBuilder::new(backend);
    sql.push(&format!(
        "SELECT COUNT(*) AS n FROM {} WHERE ",
        quote(&table.name)
    ));
    push_scope_filter(&mut sql, scope);
    sql.push(" AND \"_sg_deleted\" = ")
        .bind(sea_orm::Value::Bool(Some(false)), None);
    let row = db.query_one_raw(sql.build()).await?;
    row.map_or(Ok(0), |row| row.try_get("", "n"))
}

/// Live rows within `scope` per value of `column` (as text; `null` for no value).
pub async fn count_by(
    db: &impl ConnectionTrait,
    table: &TableDef,
    scope: &RowScope,
    column: &str,
) -> Result<Vec<(String, i64)>, DbErr> {
    let backend = db.get_database_backend();
    let mut sql = SqlBuilder::new(backend);
    let quoted = quote(column);
    sql.push(&format!(
        "SELECT CAST({quoted} AS TEXT) AS v, COUNT(*) AS n FROM {} WHERE ",
        quote(&table.name)
    ));
    push_scope_filter(&mut sql, scope);
    sql.push(" AND \"_sg_deleted\" = ")
        .bind(sea_orm::Value::Bool(Some(false)), None)
        .push(&format!(" GROUP BY {quoted}"));
    db.query_all_raw(sql.build())
        .await?
        .iter()
        .map(|row| {
            let value: Option<String> = row.try_get("", "v")?;
            Ok((
                value.unwrap_or_else(|| "null".into()),
                row.try_get("", "n")?,
            ))
        })
        .collect()
}

pub(super) fn decode(
    backend: DbBackend,
    table: &TableDef,
    result: &QueryResult,
) -> Result<StoredRow, DbErr> {
    let mut values = Map::new();
    for (name, column) in &table.spec.columns {
        values.insert(
            name.clone(),
            column_value(backend, result, name, column.kind)?,
        );
    }
    Ok(StoredRow {
        values,
        version: result.try_get("", "_sg_version")?,
        seq: result.try_get("", "_sg_seq")?,
        deleted: result.try_get("", "_sg_deleted")?,
        changed_at: result.try_get("", "_sg_changed_at")?,
    })
}

/// One column of a row read with [`select_list`], as the gateway answers it: integers, floats
/// (`null` for one JSON cannot hold) and booleans typed; PostgreSQL timestamps in the gateway's
/// format; json columns parsed (text that is not JSON stays a string); everything else as the
/// text stored.
pub(super) fn column_value(
    backend: DbBackend,
    result: &QueryResult,
    name: &str,
    kind: ColumnType,
) -> Result<Value, DbErr> {
    let value = match kind {
        ColumnType::Integer => result.try_get::<Option<i64>>("", name)?.map(Value::from),
        ColumnType::Real => result.try_get::<Option<f64>>("", name)?.map(Value::from),
        ColumnType::Boolean => result.try_get::<Option<bool>>("", name)?.map(Value::from),
        ColumnType::Timestamp if backend == DbBackend::Postgres => result
            .try_get::<Option<chrono::DateTime<chrono::Utc>>>("", name)?
            .map(|time| Value::String(format_timestamp(time))),
        ColumnType::Json => result
            .try_get::<Option<String>>("", name)?
            .map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text))),
        _ => result
            .try_get::<Option<String>>("", name)?
            .map(Value::String),
    };
    Ok(value.unwrap_or(Value::Null))
}

/// What a reader has not seen yet in one table: changes after a cursor within a scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub changes: i64,
    /// When the oldest of them happened, Unix milliseconds.
    pub oldest_change: Option<i64>,
    /// When the newest of them happened, Unix milliseconds.
    pub newest_change: Option<i64>,
}

/// Changes (tombstones included) after `after_seq` within `scope`.
pub async fn backlog(
    db: &impl ConnectionTrait,
    table: &TableDef,
    scope: &RowScope,
    after_seq: i64,
) -> Result<Backlog, DbErr> {
    let backend = db.get_database_backend();
    let mut sql = SqlBuilder::new(backend);
    sql.push(&format!(
        "SELECT COUNT(*) AS n, MIN(\"_sg_changed_at\") AS oldest, MAX(\"_sg_changed_at\") AS newest \
         FROM {} WHERE \"_sg_seq\" > ",
        quote(&table.name)
    ));
    sql.bind(sea_orm::Value::BigInt(Some(after_seq)), None);
    sql.push(" AND ");
    push_scope_filter(&mut sql, scope);
    let Some(row) = db.query_one_raw(sql.build()).await? else {
        return Ok(Backlog::default());
    };
    Ok(Backlog {
        changes: row.try_get("", "n")?,
        oldest_change: row.try_get("", "oldest")?,
        newest_change: row.try_get("", "newest")?,
    })
}

/// The rows with the given keys, tombstones included, by the key's JSON text. For a writer
/// (`lock`), PostgreSQL locks them (`FOR UPDATE`, in key order so that two writers do not
/// deadlock) until the transaction ends; SQLite's writers are serialised already.
pub async fn find_many(
    db: &impl ConnectionTrait,
    table: &TableDef,
    keys: &[Value],
    lock: bool,
) -> Result<std::collections::HashMap<String, StoredRow>, DbErr> {
    let backend = db.get_database_backend();
    let pk = &table.spec.primary_key;
    let kind = table.spec.columns[pk].kind;
    let mut found = std::collections::HashMap::new();
    for chunk in keys.chunks(500) {
        let mut sql = SqlBuilder::new(backend);
        sql.push(&format!(
            "SELECT {} FROM {} WHERE {} IN (",
            select_list(backend, table),
            quote(&table.name),
            quote(pk)
        ));
        push_values(&mut sql, kind, chunk);
        sql.push(")");
        if lock && backend == DbBackend::Postgres {
            sql.push(&format!(" ORDER BY {} FOR UPDATE", quote(pk)));
        }
        for result in db.query_all_raw(sql.build()).await? {
            let row = decode(backend, table, &result)?;
            let key = row.values.get(pk).cloned().unwrap_or(Value::Null);
            found.insert(key.to_string(), row);
        }
    }
    Ok(found)
}

/// How [`write_many`] treats a key that already has a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// Replace it (rows the writer read and locked).
    Replace,
    /// Keep it and do not count the row as written (rows the writer found absent: another
    /// writer inserted the key meanwhile).
    Keep,
}

/// Writes rows with multi-row INSERTs; returns how many were written.
pub async fn write_many(
    db: &impl ConnectionTrait,
    table: &TableDef,
    rows: &[&StoredRow],
    on_existing: OnExisting,
) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let names: Vec<String> = table
        .spec
        .columns
        .keys()
        .map(|name| quote(name))
        .chain(["_sg_version", "_sg_seq", "_sg_deleted", "_sg_changed_at"].map(quote))
        .collect();
    let pk = quote(&table.spec.primary_key);
    let updates: Vec<String> = names
        .iter()
        .filter(|name| **name != pk)
        .map(|name| format!("{name} = excluded.{name}"))
        .collect();
    let conflict_clause = match on_existing {
        OnExisting::Replace => format!(" ON CONFLICT ({pk}) DO UPDATE SET {}", updates.join(", ")),
        OnExisting::Keep => format!(" ON CONFLICT ({pk}) DO NOTHING"),
    };
    let mut written = 0;
    let null = Value::Null;
    // SQLite allows 32766 bound values per statement.
    let per_statement = (30_000 / names.len()).clamp(1, 500);
    for chunk in rows.chunks(per_statement) {
        let mut sql = SqlBuilder::new(backend);
        sql.push(&format!(
            "INSERT INTO {} ({}) VALUES ",
            quote(&table.name),
            names.join(", ")
        ));
        for (index, row) in chunk.iter().enumerate() {
            sql.push(if index == 0 { "(" } else { ", (" });
            for (name, column) in &table.spec.columns {
                let (bound, cast) =
                    bind_value(backend, column.kind, row.values.get(name).unwrap_or(&null));
                sql.bind(bound, cast).push(", ");
            }
            sql.bind(sea_orm::Value::BigInt(Some(row.version)), None)
                .push(", ")
                .bind(sea_orm::Value::BigInt(Some(row.seq)), None)
                .push(", ")
                .bind(sea_orm::Value::Bool(Some(row.deleted)), None)
                .push(", ")
                .bind(sea_orm::Value::BigInt(Some(row.changed_at)), None)
                .push(")");
        }
        sql.push(&conflict_clause);
        written += db.execute_raw(sql.build()).await?.rows_affected();
    }
    Ok(written)
}

/// `values` bound as a comma-separated list of `kind` (the inside of an `IN (…)`).
pub(super) fn push_values(sql: &mut SqlBuilder, kind: ColumnType, values: &[Value]) {
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            sql.push(", ");
        }
        let (bound, cast) = bind_value(sql.backend, kind, value);
        sql.bind(bound, cast);
    }
}
