//! Files of `file` columns: simple multipart uploads (seed 001), chunked resumable upload
//! sessions and ranged downloads (seed 004), the storage behind them, and the cleanup of files
//! no row refers to any more.
//!
//! A file column holds an attachment id. Attaching a file writes a new version of its row
//! through the push machinery, so hooks, the changes feed and an edge's outbox see it like any
//! other write.

pub mod attach;
pub mod cleanup;
pub mod media;
pub mod range;
pub mod storage;
pub mod uploads;

/// Largest file a column accepts when it does not say (10 MB).
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;

/// Whether a row's `field` (a file column, or `COLUMN.KEY` of a json column) holds the file
/// `id`: a file its row no longer holds is neither served nor kept.
pub fn holds(values: &serde_json::Map<String, serde_json::Value>, field: &str, id: &str) -> bool {
    let held = match field.split_once('.') {
        Some((column, key)) => values.get(column).and_then(|object| object.get(key)),
        None => values.get(field),
    };
    held.and_then(|value| value.as_str()) == Some(id)
}
