//! The edge's outbox (`syncgate_outbox`).

use super::sql::SqlBuilder;
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};
use serde_json::Value as Json;

/// What an outbox entry asks of the hub: the row's state now (`upsert`), or its removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxAction {
    Upsert,
    Delete,
}

impl OutboxAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxAction::Upsert => "upsert",
            OutboxAction::Delete => "delete",
        }
    }

    fn parse(text: &str) -> Result<Self, DbErr> {
        match text {
            "upsert" => Ok(OutboxAction::Upsert),
            "delete" => Ok(OutboxAction::Delete),
            other => Err(DbErr::Custom(format!(
                "syncgate_outbox.action: unknown action `{other}`"
            ))),
        }
    }
}

pub const PENDING: &str = "PENDING";
pub const SYNCED: &str = "SYNCED";
pub const ERROR: &str = "ERROR";
pub const CONFLICT: &str = "CONFLICT";

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: i64,
    pub op_id: String,
    pub table: String,
    pub key: Json,
    pub action: OutboxAction,
    pub data: Json,
    pub subject: String,
    pub branch: Option<String>,
    pub device_id: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub synced_at: Option<i64>,
}

/// A write to record for the hub.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub table: String,
    pub key: Json,
    pub action: OutboxAction,
    pub data: Json,
    pub subject: String,
    pub branch: Option<String>,
    pub device_id: String,
}

const COLUMNS: &str = "id, op_id, table_name, row_key, action, data, subject, branch, device_id, \
                       status, attempts, next_attempt_at, last_error, created_at, synced_at";

/// Records new entries, PENDING and due at once, with multi-row INSERTs.
pub async fn insert_many(
    db: &impl ConnectionTrait,
    entries: &[NewEntry],
    now: i64,
) -> Result<(), DbErr> {
    // 12 values per entry; SQLite allows 32766 bound values per statement.
    for chunk in entries.chunks(1000) {
        let mut sql = SqlBuilder::new(db.get_database_backend());
        sql.push(
            "INSERT INTO syncgate_outbox (op_id, table_name, row_key, action, data, subject, \
             branch, device_id, status, attempts, next_attempt_at, created_at) VALUES ",
        );
        for (index, entry) in chunk.iter().enumerate() {
            sql.push(if index == 0 { "(" } else { ", (" });
            sql.bind_list([
                uuid::Uuid::new_v4().to_string().into(),
                entry.table.as_str().into(),
                entry.key.to_string().into(),
                entry.action.as_str().into(),
                entry.data.to_string().into(),
                entry.subject.as_str().into(),
                Value::String(entry.branch.clone()),
                entry.device_id.as_str().into(),
                PENDING.into(),
                0i64.into(),
                now.into(),
                now.into(),
            ]);
            sql.push(")");
        }
        db.execute_raw(sql.build()).await?;
    }
    Ok(())
}

/// Pending entries in order, due or not (the drain keeps rows in order around those not due).
pub async fn pending(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<Entry>, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT {COLUMNS} FROM syncgate_outbox WHERE status = "
    ))
    .bind(PENDING.into(), None)
    .push(&format!(" ORDER BY id LIMIT {limit}"));
    db.query_all_raw(sql.build())
        .await?
        .iter()
        .map(decode)
        .collect()
}

/// Takes `ids` for this replica until `until`; returns those it got (others are held).
pub async fn lease(
    db: &impl ConnectionTrait,
    ids: &[i64],
    now: i64,
    until: i64,
) -> Result<Vec<i64>, DbErr> {
    let mut leased = Vec::new();
    for id in ids {
        let mut sql = SqlBuilder::new(db.get_database_backend());
        sql.push("UPDATE syncgate_outbox SET lease_until = ")
            .bind(until.into(), None)
            .push(" WHERE id = ")
            .bind((*id).into(), None)
            .push(" AND status = 'PENDING' AND (lease_until IS NULL OR lease_until < ")
            .bind(now.into(), None)
            .push(")");
        if db.execute_raw(sql.build()).await?.rows_affected() == 1 {
            leased.push(*id);
        }
    }
    Ok(leased)
}

/// Records the outcome of one try of entry `id`.
pub async fn finish(
    db: &impl ConnectionTrait,
    id: i64,
    status: &str,
    attempts: i64,
    next_attempt_at: i64,
    error: Option<&str>,
    now: i64,
) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("UPDATE syncgate_outbox SET status = ")
        .bind(status.into(), None)
        .push(", attempts = ")
        .bind(attempts.into(), None)
        .push(", next_attempt_at = ")
        .bind(next_attempt_at.into(), None)
        .push(", last_error = ")
        .bind(Value::String(error.map(String::from)), None)
        .push(", synced_at = ")
        .bind(Value::BigInt((status == SYNCED).then_some(now)), None)
        .push(", lease_until = NULL WHERE id = ")
        .bind(id.into(), None);
    db.execute_raw(sql.build()).await?;
    Ok(())
}

/// Marks the pending entries of one row as CONFLICT (the hub's row replaced them on the edge).
pub async fn supersede(
    db: &impl ConnectionTrait,
    table: &str,
    key: &Json,
    reason: &str,
) -> Result<u64, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("UPDATE syncgate_outbox SET status = 'CONFLICT', last_error = ")
        .bind(reason.into(), None)
        .push(" WHERE status = 'PENDING' AND table_name = ")
        .bind(table.into(), None)
        .push(" AND row_key = ")
        .bind(key.to_string().into(), None);
    Ok(db.execute_raw(sql.build()).await?.rows_affected())
}

/// Whether the row has entries not yet pushed.
pub async fn has_pending(
    db: &impl ConnectionTrait,
    table: &str,
    key: &Json,
) -> Result<bool, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push(
        "SELECT COUNT(*) AS n FROM syncgate_outbox WHERE status = 'PENDING' AND table_name = ",
    )
    .bind(table.into(), None)
    .push(" AND row_key = ")
    .bind(key.to_string().into(), None);
    let row = db.query_one_raw(sql.build()).await?;
    Ok(row.map_or(Ok(0), |r| r.try_get::<i64>("", "n"))? > 0)
}

/// Entries written through `device_id` and not yet pushed to the hub.
pub async fn pending_for_device(db: &impl ConnectionTrait, device_id: &str) -> Result<i64, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("SELECT COUNT(*) AS n FROM syncgate_outbox WHERE status = 'PENDING' AND device_id = ")
        .bind(device_id.into(), None);
    let row = db.query_one_raw(sql.build()).await?;
    row.map_or(Ok(0), |r| r.try_get("", "n"))
}

/// Entry counts by status, of `subject` or of everyone.
pub async fn counts(
    db: &impl ConnectionTrait,
    subject: Option<&str>,
) -> Result<Vec<(String, i64)>, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("SELECT status, COUNT(*) AS n FROM syncgate_outbox");
    if let Some(subject) = subject {
        sql.push(" WHERE subject = ").bind(subject.into(), None);
    }
    sql.push(" GROUP BY status");
    db.query_all_raw(sql.build())
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "status")?, row.try_get("", "n")?)))
        .collect()
}

/// Entries newest first, optionally of one status and of one subject.
pub async fn list(
    db: &impl ConnectionTrait,
    subject: Option<&str>,
    status: Option<&str>,
    limit: u64,
) -> Result<Vec<Entry>, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT {COLUMNS} FROM syncgate_outbox WHERE 1 = 1"
    ));
    if let Some(subject) = subject {
        sql.push(" AND subject = ").bind(subject.into(), None);
    }
    if let Some(status) = status {
        sql.push(" AND status = ").bind(status.into(), None);
    }
    sql.push(&format!(" ORDER BY id DESC LIMIT {limit}"));
    db.query_all_raw(sql.build())
        .await?
        .iter()
        .map(decode)
        .collect()
}

/// Puts ERROR entries (all, or those in `ids`) of `subject` (or everyone's) back to PENDING.
pub async fn requeue(
    db: &impl ConnectionTrait,
    subject: Option<&str>,
    ids: Option<&[i64]>,
    now: i64,
) -> Result<u64, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("UPDATE syncgate_outbox SET status = 'PENDING', attempts = 0, lease_until = NULL, next_attempt_at = ")
        .bind(now.into(), None)
        .push(" WHERE status = 'ERROR'");
    if let Some(subject) = subject {
        sql.push(" AND subject = ").bind(subject.into(), None);
    }
    if let Some(ids) = ids {
        if ids.is_empty() {
            return Ok(0);
        }
        sql.push(" AND id IN (")
            .bind_list(ids.iter().map(|id| Value::from(*id)))
            .push(")");
    }
    Ok(db.execute_raw(sql.build()).await?.rows_affected())
}

fn decode(row: &QueryResult) -> Result<Entry, DbErr> {
    let json = |column: &str| -> Result<Json, DbErr> {
        let text: String = row.try_get("", column)?;
        serde_json::from_str(&text)
            .map_err(|e| DbErr::Custom(format!("syncgate_outbox.{column}: {e}")))
    };
    Ok(Entry {
        id: row.try_get("", "id")?,
        op_id: row.try_get("", "op_id")?,
        table: row.try_get("", "table_name")?,
        key: json("row_key")?,
        action: OutboxAction::parse(&row.try_get::<String>("", "action")?)?,
        data: json("data")?,
        subject: row.try_get("", "subject")?,
        branch: row.try_get("", "branch")?,
        device_id: row.try_get("", "device_id")?,
        status: row.try_get("", "status")?,
        attempts: row.try_get("", "attempts")?,
        next_attempt_at: row.try_get("", "next_attempt_at")?,
        last_error: row.try_get("", "last_error")?,
        created_at: row.try_get("", "created_at")?,
        synced_at: row.try_get("", "synced_at")?,
    })
}
