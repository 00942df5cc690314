//! The device registry: registration with a device token (stored hashed), reading, updating,
//! deleting, token regeneration, and acknowledging the changes feed. A caller reaches its own
//! devices; a role scoped to `all` reaches every device. Another user's device answers as if it
//! did not exist.

use super::SyncError;
use super::feed::{check_cursor, parse_cursor};
use crate::auth::Caller;
use crate::schema::Schema;
use crate::schema::model::{NamedScope, Scope};
use crate::store::devices::{self, StoredDevice};
use crate::store::feed;
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};

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

/// The caller a device token acts as; `None` for an unknown (or regenerated, or deleted) token.
pub async fn authenticate(
    db: &DatabaseConnection,
    token: &str,
) -> Result<Option<Caller>, SyncError> {
    let device = devices::by_token_hash(db, &hash_token(token)).await?;
    Ok(device.map(|device| Caller::from_device(&device.id, &device.claims)))
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
    schema: &Schema,
    caller: &Caller,
    id: &str,
) -> Result<(), SyncError> {
    reachable(db, schema, caller, id).await?;
    Ok(devices::delete(db, id).await?)
}

/// A new token for the device; the old one stops working at once.
pub async fn regenerate_token(
    db: &DatabaseConnection,
    schema: &Schema,
    caller: &Caller,
    id: &str,
) -> Result<String, SyncError> {
    reachable(db, schema, caller, id).await?;
    let (token, hash) = new_token();
    devices::set_token_hash(db, id, &hash).await?;
    Ok(token)
}

/// Records how far the device has applied the changes feed.
pub async fn ack(
    db: &DatabaseConnection,
    schema: &Schema,
    caller: &Caller,
    id: &str,
    cursor: &str,
) -> Result<StoredDevice, SyncError> {
    let mut device = reachable(db, schema, caller, id).await?;
    let position = parse_cursor(Some(cursor))?.seq;
    check_cursor(position, feed::head(db).await?)?;
    let now = chrono::Utc::now().timestamp_millis();
    let cursor = match cursor.trim() {
        "" => "0",
        text => text,
    };
    devices::set_ack(db, id, (position, cursor), now).await?;
    device.acked_cursor = position;
    device.acked_cursor_text = Some(cursor.to_string());
    device.acked_at = Some(now);
    Ok(device)
}
