//! Cursors as clients send them, and the one check every reader and the ack make of them.

use crate::sync::SyncError;

/// Reads a cursor given by a client (`""` and absent mean "from the start").
pub fn parse_cursor(cursor: Option<&str>) -> Result<i64, SyncError> {
    match cursor.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(0),
        Some(text) => text.parse::<i64>().ok().filter(|c| *c >= 0).ok_or_else(|| {
            SyncError::invalid(
                "cursor",
                format!("`{text}` is not a cursor returned by this gateway"),
            )
        }),
    }
}

/// A cursor past the last committed position was not issued by this database.
pub fn check_cursor(cursor: i64, head: i64) -> Result<(), SyncError> {
    if cursor <= head {
        return Ok(());
    }
    Err(beyond_head(cursor, head))
}

/// The refusal of `cursor`, found to be past `head`.
pub(super) fn beyond_head(cursor: i64, head: i64) -> SyncError {
    SyncError::invalid(
        "cursor",
        format!(
            "cursor {cursor} is beyond the head of the changes feed ({head}): it was not issued \
             by this gateway's database; start again without a cursor"
        ),
    )
}
