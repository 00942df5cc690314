//! The device registry: registration with a device token (stored hashed, working for
//! `devices.token_ttl`), reading, updating, deleting, token regeneration (which is also how a
//! device refreshes its token), revoking every token of a user, and acknowledging the changes
//! feed. A caller reaches its own devices; a role scoped to `all` reaches every device. Another
//! user's device answers as if it did not exist. Every revocation is announced, so that readers
//! holding the token stop at once (see [`super::feed::Revocations`]).

use super::SyncError;
use super::feed::{Revocable, Revocations, Revoked, StillAllowed, check_cursor, parse_cursor};
use crate::auth::Caller;
use crate::schema::Schema;
use crate::schema::model::{NamedScope, Scope};
use crate::store::devices::{self, StoredDevice};
use crate::store::feed;
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Prefix of device tokens, which tells them from JWTs.
pub const TOKEN_PREFIX: &str = "sgd_";

/// A new random device token and its hash.
pub fn new_token() -> (String, String) {
    let token = format!(
        "{TOKEN_PREFIX}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether the caller's role reaches every device (its scope is `all`).
pub fn sees_all_devices(schema: &Schema, caller: &Caller) -> bool {
    schema
        .roles
        .get(&caller.role)
        .is_some_and(|role| role.spec.scope == Scope::Named(NamedScope::All))
}

/// What a device token authenticates as.
pub enum DeviceToken {
    Valid(Box<Caller>),
    /// Never issued, or regenerated, revoked, or its device deleted.
    Unknown,
    /// Its lifetime ended at this time (Unix milliseconds).
    Expired(i64),
}

/// The caller a device token acts as, if the token still works.
pub async fn authenticate(db: &DatabaseConnection, token: &str) -> Result<DeviceToken, SyncError> {
    by_hash(db, hash_token(token)).await
}

/// What the device token with this hash authenticates as, now.
async fn by_hash(db: &DatabaseConnection, hash: String) -> Result<DeviceToken, SyncError> {
    let Some(device) = devices::by_token_hash(db, &hash).await? else {
        return Ok(DeviceToken::Unknown);
    };
    if let Some(at) = device.token_expires_at
        && at <= now_millis()
    {
        return Ok(DeviceToken::Expired(at));
    }
    let mut caller = Caller::from_device(&device.id, &device.claims);
    caller.expires_at = device.token_expires_at.map(|at| at / 1000);
    caller.device_token_hash = Some(hash);
    Ok(DeviceToken::Valid(Box::new(caller)))
}

/// The caller's credentials for a reader that waits (a live stream, a long-poll): a device
/// token is checked again whenever a revocation may concern it; a JWT holds until its `exp`.
pub fn revocable(db: &DatabaseConnection, revocations: &Revocations, caller: &Caller) -> Revocable {
    let still_allowed: StillAllowed = match &caller.device_token_hash {
        Some(hash) => {
            let (db, hash) = (db.clone(), hash.clone());
            Arc::new(move || {
                let (db, hash) = (db.clone(), hash.clone());
                Box::pin(async move {
                    // A database hiccup does not end a reader; a revoked token does.
                    by_hash(&db, hash)
                        .await
                        .map_or(true, |token| matches!(token, DeviceToken::Valid(_)))
                })
            })
        }
        None => Arc::new(|| Box::pin(async { true })),
    };
    revocations.watch(caller.device_id.clone(), still_allowed)
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// When a token issued now stops working.
fn token_expiry(ttl: Duration) -> i64 {
    now_millis().saturating_add(ttl.as_millis().min(i64::MAX as u128) as i64)
}

/// Tells this process's readers, and (on PostgreSQL) every other replica's, that these devices'
/// tokens no longer work.
async fn announce(
    db: &DatabaseConnection,
    revocations: &Revocations,
    ids: Vec<String>,
) -> Result<(), SyncError> {
    if ids.is_empty() {
        return Ok(());
    }
    devices::announce_revoked(db, &ids).await?;
    revocations.announce(Revoked::Devices(ids.into()));
    Ok(())
}

pub struct Registration {
    pub id: Option<String>,
    pub name: String,
    pub platform: String,
    pub app_version: String,
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), SyncError> {
    if value.chars().any(char::is_control) {
        return Err(SyncError::invalid(
            field,
            format!("`{field}` must not contain control characters"),
        ));
    }
    if value.trim().is_empty() {
        return Err(SyncError::invalid(
            field,
            format!("`{field}` must not be empty"),
        ));
    }
    if value.chars().count() > max {
        return Err(SyncError::invalid(
            field,
            format!("`{field}` is longer than {max} characters"),
        ));
    }
    Ok(())
}

/// Registers a device for the caller; returns it with its token (shown only now).
pub async fn register(
    db: &DatabaseConnection,
    caller: &Caller,
    registration: Registration,
    token_ttl: Duration,
) -> Result<(StoredDevice, String), SyncError> {
    check_text("name", &registration.name, 200)?;
    check_text("platform", &registration.platform, 100)?;
    check_text("app_version", &registration.app_version, 100)?;
    let id = match registration.id {
        Some(id) => {
            let valid = !id.is_empty()
                && id.len() <= 200
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
            if !valid {
                return Err(SyncError::invalid(
                    "id",
                    "a device id holds 1 to 200 letters, digits, `-`, `_`, `.` or `:`",
                ));
            }
            if devices::get(db, &id).await?.is_some() {
                return Err(SyncError::KeyTaken(format!(
                    "a device with id `{id}` is already registered"
                )));
            }
            id
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    let now = chrono::Utc::now().to_rfc3339();
    let device = StoredDevice {
        id,
        subject: caller.subject.clone(),
        role: caller.role.clone(),
        claims: caller.claims.clone(),
        name: registration.name,
        platform: registration.platform,
        app_version: registration.app_version,
        created_at: now.clone(),
        updated_at: now,
        last_seen: None,
        acked_cursor: 0,
        acked_cursor_text: None,
        acked_at: None,
        token_expires_at: Some(token_expiry(token_ttl)),
        pending_upload: None,
    };
    let (token, hash) = new_token();
    devices::insert(db, &device, &hash).await?;
    Ok((device, token))
}

/// The device `id` if the caller may reach it; otherwise "not found".
pub async fn reachable(
    db: &DatabaseConnection,
    schema: &Schema,
    caller: &Caller,
    id: &str,
) -> Result<StoredDevice, SyncError> {
    SyncError::check_identifier("id", id)?;
    devices::get(db, id)
        .await?
        .filter(|device| device.subject == caller.subject || sees_all_devices(schema, caller))
        .ok_or_else(|| SyncError::RowNotFound {
            table: "devices".into(),
            key: format!("\"{id}\""),
        })
}

/// The caller's devices, or every device for a role scoped to `all`.
pub async fn list(
    db: &DatabaseConnection,
    schema: &Schema,
    caller: &Caller,
) -> Result<Vec<StoredDevice>, SyncError> {
    let subject = (!sees_all_devices(schema, caller)).then_some(caller.subject.as_str());
    Ok(devices::list(db, subject).await?)
}

pub struct DeviceChanges {
    pub name: Option<String>,
    pub platform: Option<String>,
    pub app_version: Option<String>,
}

pub async fn update(
    db: &DatabaseConnection,
    schema: &Schema,
    caller: &Caller,
    id: &str,
    changes: DeviceChanges,
) -> Result<StoredDevice, SyncError> {
    let mut device = reachable(db, schema, caller, id).await?;
    if let Some(name) = changes.name {
        check_text("name", &name, 200)?;
        device.name = name;
    }
    if let Some(platform) = changes.platform {
        check_text("platform", &platform, 100)?;
        device.platform = platform;
    }
    if let Some(app_version) = changes.app_version {
        check_text("app_version", &app_version, 100)?;
        device.app_version = app_version;
    }
    device.updated_at = chrono::Utc::now().to_rfc3339();
    devices::update_details(db, &device).await?;
    Ok(device)
}

pub async fn delete(
    db: &DatabaseConnection,
    revocations: &Revocations,
    schema: &Schema,
    caller: &Caller,
    id: &str,
) -> Result<(), SyncError> {
    reachable(db, schema, caller, id).await?;
    devices::delete(db, id).await?;
    announce(db, revocations, vec![id.to_string()]).await
}

/// A new token for the device, working for `token_ttl`; the old one stops working at once. A
/// device refreshes its token this way, with the token itself, before it expires.
pub async fn regenerate_token(
    db: &DatabaseConnection,
    revocations: &Revocations,
    schema: &Schema,
    caller: &Caller,
    id: &str,
    token_ttl: Duration,
) -> Result<(String, i64), SyncError> {
    reachable(db, schema, caller, id).await?;
    let (token, hash) = new_token();
    let expires_at = token_expiry(token_ttl);
    devices::set_token(db, id, &hash, expires_at).await?;
    announce(db, revocations, vec![id.to_string()]).await?;
    Ok((token, expires_at))
}

/// Revokes the token of every device of `user` (the caller itself, or anyone for a role that
/// reaches every device); the devices stay registered, and a new token is issued to each with
/// the user's JWT (`POST /sync/devices/{id}/token`). Returns the devices revoked.
pub async fn revoke_user_tokens(
    db: &DatabaseConnection,
    revocations: &Revocations,
    schema: &Schema,
    caller: &Caller,
    user: &str,
) -> Result<Vec<String>, SyncError> {
    if user != caller.subject && !sees_all_devices(schema, caller) {
        return Err(SyncError::Forbidden(format!(
            "your role `{}` may revoke only your own device tokens",
            caller.role
        )));
    }
    let ids: Vec<String> = devices::list(db, Some(user))
        .await?
        .into_iter()
        .map(|device| device.id)
        .collect();
    let now = now_millis();
    for id in &ids {
        // A token nobody holds (its hash is of a token never handed out), expired as of now.
        let (_, hash) = new_token();
        devices::set_token(db, id, &hash, now).await?;
    }
    announce(db, revocations, ids.clone()).await?;
    Ok(ids)
}

/// Records how far the device has applied the changes feed and, when it says, how many of its
/// own writes it holds and has not pushed yet.
pub async fn ack(
    db: &DatabaseConnection,
    schema: &Schema,
    caller: &Caller,
    id: &str,
    (cursor, pending_upload): (&str, Option<i64>),
) -> Result<StoredDevice, SyncError> {
    let mut device = reachable(db, schema, caller, id).await?;
    let position = parse_cursor(Some(cursor))?.seq;
    check_cursor(position, feed::head(db).await?)?;
    let now = chrono::Utc::now().timestamp_millis();
    let cursor = match cursor.trim() {
        "" => "0",
        text => text,
    };
    devices::set_ack(db, id, (position, cursor), pending_upload, now).await?;
    if let Some(count) = pending_upload {
        device.pending_upload = Some((count, now));
    }
    device.acked_cursor = position;
    device.acked_cursor_text = Some(cursor.to_string());
    device.acked_at = Some(now);
    Ok(device)
}
