//! Counts read when `/metrics` is scraped: what waits in the outbox and the webhook queue, and
//! how many conflicts are open. Each is one grouped query over an indexed status column.

use sea_orm::{ConnectionTrait, DbErr, Statement};

#[derive(Debug, Default)]
pub struct QueueGauges {
    /// Outbox entries by status (`PENDING`, `SYNCED`, `ERROR`, `CONFLICT`).
    pub outbox: Vec<(String, i64)>,
    /// When the oldest pending outbox entry was written (epoch milliseconds).
    pub oldest_pending_at: Option<i64>,
    /// Webhook deliveries by status (`pending`, `delivered`, `failed`).
    pub webhooks: Vec<(String, i64)>,
    pub conflicts_open: i64,
}

pub async fn read(db: &impl ConnectionTrait) -> Result<QueueGauges, DbErr> {
    let outbox = grouped(
        db,
        "SELECT status, COUNT(*) AS n FROM syncgate_outbox GROUP BY status",
    )
    .await?;
    let webhooks = grouped(
        db,
        "SELECT status, COUNT(*) AS n FROM syncgate_webhook_deliveries GROUP BY status",
    )
    .await?;
    let oldest_pending_at = single(
        db,
        "SELECT MIN(created_at) AS n FROM syncgate_outbox WHERE status = 'PENDING'",
    )
    .await?;
    let conflicts_open = single(
        db,
        "SELECT COUNT(*) AS n FROM syncgate_conflicts WHERE status = 'open'",
    )
    .await?
    .unwrap_or(0);
    Ok(QueueGauges {
        outbox,
        oldest_pending_at,
        webhooks,
        conflicts_open,
    })
}

async fn grouped(db: &impl ConnectionTrait, sql: &str) -> Result<Vec<(String, i64)>, DbErr> {
    let statement = Statement::from_string(db.get_database_backend(), sql);
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "status")?, row.try_get("", "n")?)))
        .collect()
}

async fn single(db: &impl ConnectionTrait, sql: &str) -> Result<Option<i64>, DbErr> {
    let statement = Statement::from_string(db.get_database_backend(), sql);
    match db.query_one_raw(statement).await? {
        Some(row) => row.try_get("", "n"),
        None => Ok(None),
    }
}
