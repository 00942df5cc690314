//! Registered devices (`syncgate_devices`).

use super::sql::SqlBuilder;
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};
use serde_json::{Map, Value as Json};

#[derive(Debug, Clone, PartialEq)]
pub struct StoredDevice {
    pub id: String,
    pub subject: String,
    pub role: String,
    /// The claims the device token acts with.
    pub claims: Map<String, Json>,
    pub name: String,
    pub platform: String,
    pub app_version: String,
    pub created_at: String,
    pub updated_at: String,
    /// Unix milliseconds.
    pub last_seen: Option<i64>,
    pub acked_cursor: i64,
    /// The acknowledged cursor as the device sent it; `None` before its first acknowledgement.
    pub acked_cursor_text: Option<String>,
    /// Unix milliseconds.
    pub acked_at: Option<i64>,
    /// When the device's token stops working, Unix milliseconds.
    pub token_expires_at: Option<i64>,
    /// Writes the device said it holds and has not pushed yet, and when it said so (Unix
    /// milliseconds); `None` until it first reports.
    pub pending_upload: Option<(i64, i64)>,
}

const COLUMNS: &str = "id, subject, role, claims, name, platform, app_version, created_at, \
                       updated_at, last_seen, acked_cursor, acked_cursor_text, acked_at, \
                       token_expires_at, pending_upload, pending_upload_at";

/// The PostgreSQL channel on which revoked device ids are announced to every replica.
pub const REVOKED_CHANNEL: &str = "syncgate_revoked";

pub async fn insert(
    db: &impl ConnectionTrait,
    device: &StoredDevice,
    token_hash: &str,
) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push(
        "INSERT INTO syncgate_devices (id, subject, role, claims, name, platform, app_version, \
         token_hash, created_at, updated_at, acked_cursor, token_expires_at) VALUES (",
    );
    let values: [Value; 12] = [
        device.id.clone().into(),
        device.subject.clone().into(),
        device.role.clone().into(),
        Json::Object(device.claims.clone()).to_string().into(),
        device.name.clone().into(),
        device.platform.clone().into(),
        device.app_version.clone().into(),
        token_hash.into(),
        device.created_at.clone().into(),
        device.updated_at.clone().into(),
        device.acked_cursor.into(),
        device.token_expires_at.into(),
    ];
    sql.bind_list(values);
    sql.push(")");
    db.execute_raw(sql.build()).await?;
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<Option<StoredDevice>, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT {COLUMNS} FROM syncgate_devices WHERE id = "
    ))
    .bind(id.into(), None);
    db.query_one_raw(sql.build())
        .await?
        .map(|row| decode(&row))
        .transpose()
}

pub async fn by_token_hash(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<StoredDevice>, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT {COLUMNS} FROM syncgate_devices WHERE token_hash = "
    ))
    .bind(hash.into(), None);
    db.query_one_raw(sql.build())
        .await?
        .map(|row| decode(&row))
        .transpose()
}

/// The devices of `subject`, or every device when `None`, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    subject: Option<&str>,
) -> Result<Vec<StoredDevice>, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push(&format!("SELECT {COLUMNS} FROM syncgate_devices"));
    if let Some(subject) = subject {
        sql.push(" WHERE subject = ").bind(subject.into(), None);
    }
    sql.push(" ORDER BY created_at, id");
    db.query_all_raw(sql.build())
        .await?
        .iter()
        .map(decode)
        .collect()
}

pub async fn update_details(db: &impl ConnectionTrait, device: &StoredDevice) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("UPDATE syncgate_devices SET name = ")
        .bind(device.name.clone().into(), None)
        .push(", platform = ")
        .bind(device.platform.clone().into(), None)
        .push(", app_version = ")
        .bind(device.app_version.clone().into(), None)
        .push(", updated_at = ")
        .bind(device.updated_at.clone().into(), None)
        .push(" WHERE id = ")
        .bind(device.id.clone().into(), None);
    db.execute_raw(sql.build()).await?;
    Ok(())
}

/// Gives the device a new token (by its hash) that works until `expires_at`.
pub async fn set_token(
    db: &impl ConnectionTrait,
    id: &str,
    hash: &str,
    expires_at: i64,
) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("UPDATE syncgate_devices SET token_hash = ")
        .bind(hash.into(), None)
        .push(", token_expires_at = ")
        .bind(expires_at.into(), None)
        .push(" WHERE id = ")
        .bind(id.into(), None);
    db.execute_raw(sql.build()).await?;
    Ok(())
}

/// Gives a lifetime to the tokens of devices registered before tokens had one.
pub async fn bound_token_lifetimes(
    db: &impl ConnectionTrait,
    expires_at: i64,
) -> Result<u64, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("UPDATE syncgate_devices SET token_expires_at = ")
        .bind(expires_at.into(), None)
        .push(" WHERE token_expires_at IS NULL");
    Ok(db.execute_raw(sql.build()).await?.rows_affected())
}

/// Tells every replica that these devices' tokens were revoked (PostgreSQL `NOTIFY`, in
/// payloads of comma-separated ids under its 8,000-byte limit; device ids hold no comma). A
/// database without announcements has only this process to tell.
pub async fn announce_revoked(db: &impl ConnectionTrait, ids: &[String]) -> Result<(), DbErr> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    let mut payload = String::new();
    for (index, id) in ids.iter().enumerate() {
        if !payload.is_empty() {
            payload.push(',');
        }
        payload.push_str(id);
        let last = index + 1 == ids.len();
        if last || payload.len() + 1 + ids[index + 1].len() > 7_000 {
            let mut sql = SqlBuilder::new(db.get_database_backend());
            sql.push("SELECT pg_notify(")
                .bind(REVOKED_CHANNEL.into(), None)
                .push(", ")
                .bind(std::mem::take(&mut payload).into(), None)
                .push(")");
            db.execute_raw(sql.build()).await?;
        }
    }
    Ok(())
}

pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("DELETE FROM syncgate_devices WHERE id = ")
        .bind(id.into(), None);
    db.execute_raw(sql.build()).await?;
    Ok(())
}

/// Records how far the device has applied the feed, and its own count of unsent writes when it
/// sent one.
pub async fn set_ack(
    db: &impl ConnectionTrait,
    id: &str,
    (position, text): (i64, &str),
    pending_upload: Option<i64>,
    at: i64,
) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("UPDATE syncgate_devices SET acked_cursor = ")
        .bind(position.into(), None)
        .push(", acked_cursor_text = ")
        .bind(text.into(), None)
        .push(", acked_at = ")
        .bind(at.into(), None);
    // The device's own count of writes it has not pushed yet, when it sent one; else the last
    // count stays.
    if let Some(count) = pending_upload {
        sql.push(", pending_upload = ")
            .bind(count.into(), None)
            .push(", pending_upload_at = ")
            .bind(at.into(), None);
    }
    sql.push(" WHERE id = ").bind(id.into(), None);
    db.execute_raw(sql.build()).await?;
    Ok(())
}

/// Moves `last_seen` of `subject`'s device forward (never back: replicas flush in any order).
pub async fn touch(
    db: &impl ConnectionTrait,
    id: &str,
    subject: &str,
    seen: i64,
) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("UPDATE syncgate_devices SET last_seen = ")
        .bind(seen.into(), None)
        .push(" WHERE id = ")
        .bind(id.into(), None)
        .push(" AND subject = ")
        .bind(subject.into(), None)
        .push(" AND (last_seen IS NULL OR last_seen < ")
        .bind(seen.into(), None)
        .push(")");
    db.execute_raw(sql.build()).await?;
    Ok(())
}

fn decode(row: &QueryResult) -> Result<StoredDevice, DbErr> {
    let claims: String = row.try_get("", "claims")?;
    let claims = match serde_json::from_str(&claims) {
        Ok(Json::Object(map)) => map,
        _ => {
            return Err(DbErr::Custom(
                "syncgate_devices.claims is not a JSON object".into(),
            ));
        }
    };
    Ok(StoredDevice {
        id: row.try_get("", "id")?,
        subject: row.try_get("", "subject")?,
        role: row.try_get("", "role")?,
        claims,
        name: row.try_get("", "name")?,
        platform: row.try_get("", "platform")?,
        app_version: row.try_get("", "app_version")?,
        created_at: row.try_get("", "created_at")?,
        updated_at: row.try_get("", "updated_at")?,
        last_seen: row.try_get("", "last_seen")?,
        acked_cursor: row.try_get("", "acked_cursor")?,
        acked_cursor_text: row.try_get("", "acked_cursor_text")?,
        acked_at: row.try_get("", "acked_at")?,
        token_expires_at: row.try_get("", "token_expires_at")?,
        pending_upload: row
            .try_get::<Option<i64>>("", "pending_upload")?
            .zip(row.try_get::<Option<i64>>("", "pending_upload_at")?),
    })
}
