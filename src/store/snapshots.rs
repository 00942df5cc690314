//! How far each branch's snapshot has read the hub's feed (`syncgate_snapshots`).

use super::sql::SqlBuilder;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

/// `(cursor, last_snapshot_at)` of `branch`.
pub async fn get(db: &impl ConnectionTrait, branch: &str) -> Result<Option<(i64, i64)>, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("SELECT cursor, last_snapshot_at FROM syncgate_snapshots WHERE branch = ")
        .bind(branch.into(), None);
    let row = db.query_one_raw(sql.build()).await?;
    row.map(|row| {
        Ok((
            row.try_get("", "cursor")?,
            row.try_get("", "last_snapshot_at")?,
        ))
    })
    .transpose()
}

pub async fn set(
    db: &impl ConnectionTrait,
    branch: &str,
    cursor: i64,
    at: i64,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let mut sql = SqlBuilder::new(backend);
    sql.push("INSERT INTO syncgate_snapshots (branch, cursor, last_snapshot_at) VALUES (")
        .bind(branch.into(), None)
        .push(", ")
        .bind(cursor.into(), None)
        .push(", ")
        .bind(at.into(), None)
        .push(") ON CONFLICT (branch) DO UPDATE SET cursor = ");
    let excluded = if backend == DbBackend::Postgres {
        "EXCLUDED"
    } else {
        "excluded"
    };
    sql.push(&format!(
        "{excluded}.cursor, last_snapshot_at = {excluded}.last_snapshot_at"
    ));
    db.execute_raw(sql.build()).await?;
    Ok(())
}
