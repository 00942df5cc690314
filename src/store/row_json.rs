//! Rows read as JSON built by the database (`json_object` in SQLite, `json_build_object` in
//! PostgreSQL), for the feed and pull: each row arrives as one text value that goes into the
//! answer as it is, with no map of values decoded and serialised again per row.
//!
//! The JSON is the same as the decoded row serialised by the gateway: columns in schema order
//! then `_version`; booleans as `true`/`false` (SQLite stores 0/1); decimals, dates, uuids and
//! timestamps as strings, timestamps in the gateway's own format (`…T10:00:00Z`, `.123Z`,
//! `.123456Z`); json columns as JSON. A table with a `real` column is not built here (the two
//! databases print some floats otherwise than the gateway does): [`scan`] answers `None` and the
//! caller decodes it the usual way.

use super::ddl::quote;
use super::rows::{Scan, push_scope_filter};
use super::sql::SqlBuilder;
use crate::schema::TableDef;
use crate::schema::model::ColumnType;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use serde_json::value::RawValue;

/// What each row becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A change of the feed: `{seq, table, key, version, deleted, row}`.
    Change,
    /// The row alone (pull).
    Row,
}

/// Rows after `scan.after_seq` within its scope, in feed order, each as `(seq, JSON)`; `None`
/// when the table has a column the database cannot print exactly as the gateway does.
pub async fn scan(
    db: &impl ConnectionTrait,
    table: &TableDef,
    scan: &Scan<'_>,
    shape: Shape,
) -> Result<Option<Vec<(i64, Box<RawValue>)>>, DbErr> {
    let backend = db.get_database_backend();
    let Some(json) = expression(backend, table, shape) else {
        return Ok(None);
    };
    let mut sql = SqlBuilder::new(backend);
    sql.push(&format!(
        "SELECT \"_sg_seq\" AS seq, CAST({json} AS TEXT) AS j FROM {} WHERE \"_sg_seq\" > ",
        quote(&table.name)
    ));
    sql.bind(sea_orm::Value::BigInt(Some(scan.after_seq)), None);
    sql.push(" AND ");
    push_scope_filter(&mut sql, table, scan.scope);
    if !scan.include_deleted {
        sql.push(" AND \"_sg_deleted\" = ")
            .bind(sea_orm::Value::Bool(Some(false)), None);
    }
    sql.push(&format!(" ORDER BY \"_sg_seq\" LIMIT {}", scan.limit));
    db.query_all_raw(sql.build())
        .await?
        .iter()
        .map(|row| {
            let seq: i64 = row.try_get("", "seq")?;
            let text: String = row.try_get("", "j")?;
            let json = RawValue::from_string(text)
                .map_err(|error| DbErr::Custom(format!("the database built bad JSON: {error}")))?;
            Ok((seq, json))
        })
        .collect::<Result<Vec<_>, DbErr>>()
        .map(Some)
}

/// The SQL expression of one row's JSON, or `None` for a table with a `real` column.
fn expression(backend: DbBackend, table: &TableDef, shape: Shape) -> Option<String> {
    let mut row = Vec::with_capacity(table.spec.columns.len() + 1);
    for (name, column) in &table.spec.columns {
        row.push(format!(
            "'{name}', {}",
            value(backend, &quote(name), column.kind)?
        ));
    }
    row.push("'_version', \"_sg_version\"".to_string());
    let object = match backend {
        DbBackend::Postgres => "json_build_object",
        _ => "json_object",
    };
    let row = format!("{object}({})", row.join(", "));
    Some(match shape {
        Shape::Row => row,
        Shape::Change => {
            let pk = &table.spec.primary_key;
            let key = value(backend, &quote(pk), table.spec.columns[pk].kind)?;
            format!(
                "{object}('seq', \"_sg_seq\", 'table', '{}', 'key', {key}, 'version', \
                 \"_sg_version\", 'deleted', {}, 'row', {row})",
                table.name,
                boolean(backend, "\"_sg_deleted\""),
            )
        }
    })
}

/// One column's JSON value.
fn value(backend: DbBackend, column: &str, kind: ColumnType) -> Option<String> {
    Some(match (backend, kind) {
        (_, ColumnType::Real) => return None,
        (_, ColumnType::Boolean) => boolean(backend, column),
        (DbBackend::Postgres, ColumnType::Timestamp) => postgres_timestamp(column),
        (DbBackend::Postgres, ColumnType::Json | ColumnType::Integer | ColumnType::Text) => {
            column.to_string()
        }
        (DbBackend::Postgres, _) => format!("CAST({column} AS TEXT)"),
        (_, ColumnType::Json) => format!("json({column})"),
        // SQLite stores every other type as the integer or text the gateway answers with.
        _ => column.to_string(),
    })
}

fn boolean(backend: DbBackend, column: &str) -> String {
    match backend {
        DbBackend::Postgres => column.to_string(),
        // SQLite keeps 0/1; `json()` marks the text as JSON so that it nests as a boolean.
        _ => format!(
            "json(CASE WHEN {column} IS NULL THEN NULL WHEN {column} THEN 'true' ELSE 'false' END)"
        ),
    }
}

/// A `timestamptz` as the gateway prints it: UTC, `Z`, and a fraction of 3 or 6 digits only when
/// it is not zero.
fn postgres_timestamp(column: &str) -> String {
    let micros = format!("to_char({column}, 'US')");
    format!(
        "CASE WHEN {column} IS NULL THEN NULL ELSE \
         to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || \
         CASE WHEN {micros} = '000000' THEN '' \
              WHEN right({micros}, 3) = '000' THEN '.' || left({micros}, 3) \
              ELSE '.' || {micros} END || 'Z' END"
    )
}
