//! The queue of `after_commit` webhook deliveries (`syncgate_webhook_deliveries`).

use super::sql::SqlBuilder;
use sea_orm::{ConnectionTrait, DbErr, Value};

pub struct Delivery {
    pub id: i64,
    pub url: String,
    pub body: String,
    pub attempts: i64,
}

pub async fn enqueue(
    db: &impl ConnectionTrait,
    url: &str,
    body: &str,
    now: i64,
) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("INSERT INTO syncgate_webhook_deliveries (url, body, attempts, next_attempt_at, status, created_at) VALUES (")
        .bind(url.into(), None)
        .push(", ")
        .bind(body.into(), None)
        .push(", 0, ")
        .bind(now.into(), None)
        .push(", 'pending', ")
        .bind(now.into(), None)
        .push(")");
    db.execute_raw(sql.build()).await?;
    Ok(())
}

/// Pending deliveries whose time has come and that no replica holds.
pub async fn due(db: &impl ConnectionTrait, now: i64, limit: u64) -> Result<Vec<Delivery>, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("SELECT id, url, body, attempts FROM syncgate_webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ")
        .bind(now.into(), None)
        .push(" AND (lease_until IS NULL OR lease_until < ")
        .bind(now.into(), None)
        .push(&format!(") ORDER BY id LIMIT {limit}"));
    db.query_all_raw(sql.build())
        .await?
        .iter()
        .map(|row| {
            Ok(Delivery {
                id: row.try_get("", "id")?,
                url: row.try_get("", "url")?,
                body: row.try_get("", "body")?,
                attempts: row.try_get("", "attempts")?,
            })
        })
        .collect()
}

/// Takes the delivery for this replica until `until`; false when another replica holds it.
pub async fn lease(
    db: &impl ConnectionTrait,
    id: i64,
    now: i64,
    until: i64,
) -> Result<bool, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("UPDATE syncgate_webhook_deliveries SET lease_until = ")
        .bind(until.into(), None)
        .push(" WHERE id = ")
        .bind(id.into(), None)
        .push(" AND status = 'pending' AND (lease_until IS NULL OR lease_until < ")
        .bind(now.into(), None)
        .push(")");
    Ok(db.execute_raw(sql.build()).await?.rows_affected() == 1)
}

pub async fn delivered(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("UPDATE syncgate_webhook_deliveries SET status = 'delivered', lease_until = NULL WHERE id = ")
        .bind(id.into(), None);
    db.execute_raw(sql.build()).await?;
    Ok(())
}

pub async fn failed_attempt(
    db: &impl ConnectionTrait,
    id: i64,
    attempts: i64,
    next_attempt_at: i64,
    error: &str,
    give_up: bool,
) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("UPDATE syncgate_webhook_deliveries SET attempts = ")
        .bind(attempts.into(), None)
        .push(", next_attempt_at = ")
        .bind(next_attempt_at.into(), None)
        .push(", last_error = ")
        .bind(Value::String(Some(error.to_string())), None)
        .push(", lease_until = NULL, status = ")
        .bind(if give_up { "failed" } else { "pending" }.into(), None)
        .push(" WHERE id = ")
        .bind(id.into(), None);
    db.execute_raw(sql.build()).await?;
    Ok(())
}
