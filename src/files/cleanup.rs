//! Removing what nothing refers to: files whose row was deleted or now holds another file (once
//! an edge has pushed the change to the hub), and expired upload sessions with their chunks.

use super::attach::object_key;
use super::storage::FileStorage;
use super::uploads;
use crate::schema::Schema;
use crate::store::{files, outbox, rows};
use sea_orm::{DatabaseConnection, DbErr};

/// Files younger than this are left alone: their row may be being updated right now.
const GRACE_MS: i64 = 60_000;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanupReport {
    pub files_removed: u64,
    pub uploads_expired: u64,
}

pub async fn cleanup(
    db: &DatabaseConnection,
    schema: &Schema,
    storage: &dyn FileStorage,
    is_edge: bool,
    grace_ms: Option<i64>,
) -> Result<CleanupReport, DbErr> {
    let now = chrono::Utc::now().timestamp_millis();
    let grace = grace_ms.unwrap_or(GRACE_MS);
    let mut report = CleanupReport::default();
    {
        for file in files::all_files(db, 0, 100_000).await? {
            if now - file.created_at < grace {
                continue;
            }
            // A table that left the schema keeps its files: the schema may come back.
            let Some(table) = schema.table(&file.table) else {
                continue;
            };
            let row = rows::find(db, table, &file.key).await?;
            let referenced = row.as_ref().is_some_and(|row| {
                !row.deleted && super::holds(&row.values, &file.field, &file.id)
            });
            if referenced {
                continue;
            }
            if is_edge && outbox::has_pending(db, &file.table, &file.key).await? {
                continue;
            }
            if let Err(error) = storage.delete(&object_key(&file.id)).await {
                tracing::warn!(file = %file.id, %error, "cannot remove an unreferenced file");
                continue;
            }
            files::delete_file(db, &file.id).await?;
            report.files_removed += 1;
        }
    }
    for upload in files::expired_uploads(db, now).await? {
        if uploads::remove(db, storage, &upload.id).await.is_ok() {
            report.uploads_expired += 1;
        }
    }
    Ok(report)
}
