//! The queue of conflicts kept for a person to resolve (`conflict = "manual"`).

use super::sql::SqlBuilder;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Value};
use serde_json::{Map, Value as Json};

#[derive(Debug, Clone, PartialEq)]
pub struct StoredConflict {
    pub id: i64,
    pub table: String,
    pub key: Json,
    pub server_row: Map<String, Json>,
    pub client_row: Map<String, Json>,
    pub server_version: i64,
    pub base_version: Option<i64>,
    pub device_id: String,
    pub subject: String,
    pub status: String,
    pub resolution: Option<String>,
    pub created_at: String,
}

pub struct NewConflict<'a> {
    pub table: &'a str,
    pub key: &'a Json,
    pub server_row: &'a Map<String, Json>,
    pub client_row: &'a Map<String, Json>,
    pub server_version: i64,
    pub base_version: Option<i64>,
    pub device_id: &'a str,
    pub subject: &'a str,
}

const COLUMNS: &str = "id, table_name, row_key, server_row, client_row, server_version, \
                       base_version, device_id, subject, status, resolution, created_at";

/// Stores an open conflict and returns its id.
pub async fn insert(db: &impl ConnectionTrait, conflict: NewConflict<'_>) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let mut sql = SqlBuilder::new(backend);
    sql.push(
        "INSERT INTO syncgate_conflicts (table_name, row_key, server_row, client_row, \
         server_version, base_version, device_id, subject, status, created_at) VALUES (",
    );
    let values: [Value; 10] = [
        conflict.table.into(),
        conflict.key.to_string().into(),
        Json::Object(conflict.server_row.clone()).to_string().into(),
        Json::Object(conflict.client_row.clone()).to_string().into(),
        conflict.server_version.into(),
        Value::BigInt(conflict.base_version),
        conflict.device_id.into(),
        conflict.subject.into(),
        "open".into(),
        chrono::Utc::now().to_rfc3339().into(),
    ];
    sql.bind_list(values);
    sql.push(") RETURNING id");
    let row = db
        .query_one_raw(sql.build())
        .await?
        .ok_or_else(|| DbErr::Custom("INSERT … RETURNING gave no row".into()))?;
    row.try_get("", "id")
}

/// Open conflicts of `tables`, oldest first.
pub async fn open(
    db: &impl ConnectionTrait,
    tables: &[&str],
) -> Result<Vec<StoredConflict>, DbErr> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT {COLUMNS} FROM syncgate_conflicts WHERE status = 'open' AND table_name IN ("
    ));
    sql.bind_list(tables.iter().map(|table| Value::from(*table)));
    sql.push(") ORDER BY id");
    db.query_all_raw(sql.build())
        .await?
        .iter()
        .map(decode)
        .collect()
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<Option<StoredConflict>, DbErr> {
    let backend = db.get_database_backend();
    let mut sql = SqlBuilder::new(backend);
    sql.push(&format!(
        "SELECT {COLUMNS} FROM syncgate_conflicts WHERE id = "
    ))
    .bind(id.into(), None);
    if backend == DbBackend::Postgres {
        // Two resolutions of one conflict must not both apply.
        sql.push(" FOR UPDATE");
    }
    match db.query_one_raw(sql.build()).await? {
        Some(row) => decode(&row).map(Some),
        None => Ok(None),
    }
}

pub async fn mark_resolved(
    db: &impl ConnectionTrait,
    id: i64,
    resolution: &str,
    by: &str,
) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("UPDATE syncgate_conflicts SET status = 'resolved', resolution = ")
        .bind(resolution.into(), None)
        .push(", resolved_by = ")
        .bind(by.into(), None)
        .push(", resolved_at = ")
        .bind(chrono::Utc::now().to_rfc3339().into(), None)
        .push(" WHERE id = ")
        .bind(id.into(), None);
    db.execute_raw(sql.build()).await?;
    Ok(())
}

fn decode(row: &QueryResult) -> Result<StoredConflict, DbErr> {
    let json = |column: &str| -> Result<Json, DbErr> {
        let text: String = row.try_get("", column)?;
        serde_json::from_str(&text)
            .map_err(|error| DbErr::Custom(format!("syncgate_conflicts.{column}: {error}")))
    };
    let object = |column: &str| -> Result<Map<String, Json>, DbErr> {
        match json(column)? {
            Json::Object(map) => Ok(map),
            _ => Err(DbErr::Custom(format!(
                "syncgate_conflicts.{column} is not an object"
            ))),
        }
    };
    Ok(StoredConflict {
        id: row.try_get("", "id")?,
        table: row.try_get("", "table_name")?,
        key: json("row_key")?,
        server_row: object("server_row")?,
        client_row: object("client_row")?,
        server_version: row.try_get("", "server_version")?,
        base_version: row.try_get("", "base_version")?,
        device_id: row.try_get("", "device_id")?,
        subject: row.try_get("", "subject")?,
        status: row.try_get("", "status")?,
        resolution: row.try_get("", "resolution")?,
        created_at: row.try_get("", "created_at")?,
    })
}
