//! Chunked, resumable upload sessions (seed 004): create, send chunks in any order and again
//! (idempotent), ask which are present, complete (every chunk there and the SHA-256 right), or
//! cancel. Sessions belong to their creator and expire.

use super::attach::{FileError, Target, sha256_hex};
use super::storage::FileStorage;
use crate::auth::Caller;
use crate::store::files::{self, Upload};
use sea_orm::DatabaseConnection;
use std::time::Duration;

/// Largest chunk a session may declare.
pub const MAX_CHUNK_SIZE: i64 = 16 * 1024 * 1024;

fn chunk_prefix(id: &str) -> String {
    format!("uploads/{id}")
}

fn chunk_key(id: &str, index: i64) -> String {
    format!("uploads/{id}/{index}")
}

pub async fn create(
    db: &DatabaseConnection,
    caller: &Caller,
    target: &Target<'_>,
    size: i64,
    chunk_size: i64,
    sha256: &str,
    expiry: Duration,
) -> Result<Upload, FileError> {
    if size < 1 {
        return Err(FileError::BadRequest(
            "`size` must be at least 1 byte".into(),
        ));
    }
    if size as u64 > target.max_size() {
        return Err(FileError::TooLarge {
            table: target.table.name.clone(),
            field: target.field.clone(),
            size: size as u64,
            max: target.max_size(),
        });
    }
    if !(1..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err(FileError::BadRequest(format!(
            "`chunk_size` must be from 1 to {MAX_CHUNK_SIZE} bytes"
        )));
    }
    let sha256 = sha256.to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FileError::BadRequest(
            "`sha256` must be 64 hexadecimal digits".into(),
        ));
    }
    let now = chrono::Utc::now().timestamp_millis();
    let upload = Upload {
        id: uuid::Uuid::new_v4().to_string(),
        subject: caller.subject.clone(),
        table: target.table.name.clone(),
        key: target.key.clone(),
        field: target.field.clone(),
        size,
        chunk_size,
        sha256,
        created_at: now,
        expires_at: now + expiry.as_millis() as i64,
    };
    files::insert_upload(db, &upload).await?;
    Ok(upload)
}

/// The caller's open session `id`.
pub async fn session(
    db: &DatabaseConnection,
    caller: &Caller,
    id: &str,
) -> Result<Upload, FileError> {
    crate::sync::SyncError::check_identifier("id", id)?;
    let now = chrono::Utc::now().timestamp_millis();
    files::get_upload(db, id)
        .await?
        .filter(|u| u.subject == caller.subject && u.expires_at >= now)
        .ok_or_else(|| FileError::NotFound(format!("no upload session `{id}`")))
}

/// Stores chunk `index`; sending a chunk again replaces it.
pub async fn put_chunk(
    db: &DatabaseConnection,
    storage: &dyn FileStorage,
    caller: &Caller,
    id: &str,
    index: i64,
    bytes: &[u8],
) -> Result<(Upload, Vec<i64>), FileError> {
    let upload = session(db, caller, id).await?;
    if !(0..upload.chunks()).contains(&index) {
        return Err(FileError::BadRequest(format!(
            "chunk {index} does not exist: the session has chunks 0 to {}",
            upload.chunks() - 1
        )));
    }
    let expected = upload.chunk_len(index);
    if bytes.len() as i64 != expected {
        return Err(FileError::BadRequest(format!(
            "chunk {index} must be {expected} bytes, not {}",
            bytes.len()
        )));
    }
    storage.put(&chunk_key(id, index), bytes).await?;
    let received = received(storage, &upload).await?;
    Ok((upload, received))
}

/// The chunk indices present, in order.
pub async fn received(storage: &dyn FileStorage, upload: &Upload) -> Result<Vec<i64>, FileError> {
    let mut present: Vec<i64> = storage
        .list(&chunk_prefix(&upload.id))
        .await?
        .iter()
        .filter_map(|name| name.parse().ok())
        .filter(|index| (0..upload.chunks()).contains(index))
        .collect();
    present.sort_unstable();
    Ok(present)
}

/// Every chunk joined, once all are present and the SHA-256 matches.
pub async fn assemble(storage: &dyn FileStorage, upload: &Upload) -> Result<Vec<u8>, FileError> {
    let present = received(storage, upload).await?;
    let missing: Vec<i64> = (0..upload.chunks())
        .filter(|i| !present.contains(i))
        .collect();
    if !missing.is_empty() {
        return Err(FileError::Conflict(format!(
            "chunks {} are missing",
            missing
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut bytes = Vec::with_capacity(upload.size as usize);
    for index in 0..upload.chunks() {
        let chunk = storage
            .read_range(
                &chunk_key(&upload.id, index),
                0,
                upload.chunk_len(index) as u64,
            )
            .await?;
        bytes.extend_from_slice(&chunk);
    }
    let actual = sha256_hex(&bytes);
    if actual != upload.sha256 {
        return Err(FileError::BadRequest(format!(
            "the SHA-256 of the chunks ({actual}) is not the session's ({}); a chunk is corrupted — send the chunks again",
            upload.sha256
        )));
    }
    Ok(bytes)
}

/// Removes the session and its chunks (cancel, completion, expiry).
pub async fn remove(
    db: &DatabaseConnection,
    storage: &dyn FileStorage,
    id: &str,
) -> Result<(), FileError> {
    storage.delete_prefix(&chunk_prefix(id)).await?;
    files::delete_upload(db, id).await?;
    Ok(())
}
