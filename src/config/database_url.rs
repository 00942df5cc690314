//! What a `database.url` names.

use std::path::PathBuf;

/// The file of a `sqlite://PATH` (or `sqlite:PATH`) URL; `None` for other URLs and in-memory
/// databases.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}
