//! The first result of each `(device_id, op_id)`, so replays return it and write nothing.

use super::sql::SqlBuilder;
use sea_orm::{ConnectionTrait, DbErr, Value};

pub async fn find(
    db: &impl ConnectionTrait,
    device_id: &str,
    op_id: &str,
) -> Result<Option<serde_json::Value>, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("SELECT result FROM syncgate_ops WHERE device_id = ")
        .bind(device_id.into(), None)
        .push(" AND op_id = ")
        .bind(op_id.into(), None);
    let Some(row) = db.query_one_raw(sql.build()).await? else {
        return Ok(None);
    };
    let text: String = row.try_get("", "result")?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|error| DbErr::Custom(format!("syncgate_ops holds unreadable JSON: {error}")))
}

pub async fn record(
    db: &impl ConnectionTrait,
    device_id: &str,
    op_id: &str,
    result: &serde_json::Value,
) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("INSERT INTO syncgate_ops (device_id, op_id, result, created_at) VALUES (")
        .bind(device_id.into(), None)
        .push(", ")
        .bind(op_id.into(), None)
        .push(", ")
        .bind(Value::String(Some(result.to_string())), None)
        .push(", ")
        .bind(chrono::Utc::now().to_rfc3339().into(), None)
        .push(")");
    db.execute_raw(sql.build()).await?;
    Ok(())
}

/// The first results of those of `op_ids` already applied for `device_id`.
pub async fn find_many(
    db: &impl ConnectionTrait,
    device_id: &str,
    op_ids: &[&str],
) -> Result<std::collections::HashMap<String, serde_json::Value>, DbErr> {
    let mut found = std::collections::HashMap::new();
    for chunk in op_ids.chunks(500) {
        let mut sql = SqlBuilder::new(db.get_database_backend());
        sql.push("SELECT op_id, result FROM syncgate_ops WHERE device_id = ")
            .bind(device_id.into(), None)
            .push(" AND op_id IN (");
        sql.bind_list(chunk.iter().map(|op_id| Value::from(*op_id)));
        sql.push(")");
        for row in db.query_all_raw(sql.build()).await? {
            let text: String = row.try_get("", "result")?;
            let result = serde_json::from_str(&text).map_err(|error| {
                DbErr::Custom(format!("syncgate_ops holds unreadable JSON: {error}"))
            })?;
            found.insert(row.try_get("", "op_id")?, result);
        }
    }
    Ok(found)
}

/// Records several first results at once.
pub async fn record_many(
    db: &impl ConnectionTrait,
    device_id: &str,
    results: &[(String, serde_json::Value)],
) -> Result<(), DbErr> {
    let now = chrono::Utc::now().to_rfc3339();
    for chunk in results.chunks(1000) {
        let mut sql = SqlBuilder::new(db.get_database_backend());
        sql.push("INSERT INTO syncgate_ops (device_id, op_id, result, created_at) VALUES ");
        for (index, (op_id, result)) in chunk.iter().enumerate() {
            sql.push(if index == 0 { "(" } else { ", (" })
                .bind(device_id.into(), None)
                .push(", ")
                .bind(op_id.clone().into(), None)
                .push(", ")
                .bind(Value::String(Some(result.to_string())), None)
                .push(", ")
                .bind(now.clone().into(), None)
                .push(")");
        }
        db.execute_raw(sql.build()).await?;
    }
    Ok(())
}
