//! Leases of scheduled jobs (`syncgate_job_leases`): one replica at a time runs each job.

use super::sql::SqlBuilder;
use sea_orm::{ConnectionTrait, DbErr, Value};

/// Takes the lease of job `name` for `holder` until `until` (Unix milliseconds) if nobody else
/// holds it now (a holder renews its own); returns whether it was taken.
pub async fn take(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    now: i64,
    until: i64,
) -> Result<bool, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("INSERT INTO syncgate_job_leases (name, holder, lease_until) VALUES (")
        .bind_list([Value::from(name), Value::from(holder), Value::from(until)])
        .push(
            ") ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             lease_until = excluded.lease_until WHERE syncgate_job_leases.lease_until < ",
        )
        .bind(Value::from(now), None)
        .push(" OR syncgate_job_leases.holder = ")
        .bind(Value::from(holder), None);
    Ok(db.execute_raw(sql.build()).await?.rows_affected() == 1)
}

/// Gives the lease of job `name` back, if `holder` still holds it.
pub async fn release(db: &impl ConnectionTrait, name: &str, holder: &str) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("UPDATE syncgate_job_leases SET lease_until = 0 WHERE name = ")
        .bind(Value::from(name), None)
        .push(" AND holder = ")
        .bind(Value::from(holder), None);
    db.execute_raw(sql.build()).await?;
    Ok(())
}
