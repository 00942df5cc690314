//! Cursors as clients send them, and the one check every reader and the ack make of them.
//!
//! A cursor is an opaque string: the feed position, then (for cursors the feed and pull hand
//! out) a stamp of the view it was read with, `"<position>.<stamp>"`. The stamp holds, for each
//! table read, a tag of the table's name and a fingerprint of the caller's scope in it, so that
//! a reader whose view changed since (its claims, a reload of permissions or scopes, a table it
//! lost) is told which tables to read again instead of being served a mix of two views. A bare
//! position (cursors handed out before stamps existed, and a push's `cursor`) is taken as it is.

use crate::store::RowScope;
use crate::sync::SyncError;

/// Hex digits of one table's stamp: 6 of its name's tag, 8 of its scope's fingerprint.
const STAMP_DIGITS: usize = 14;

/// A cursor sent by a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The feed position: everything up to it has been read.
    pub seq: i64,
    /// The view it was read with; `None` for a bare position.
    pub view: Option<Vec<TableStamp>>,
}

/// One table of a stamped view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStamp {
    /// [`name_tag`] of the table.
    pub name: u32,
    /// [`scope_fingerprint`] of the caller's scope in it.
    pub scope: u32,
}

impl TableStamp {
    pub fn of(table: &str, scope: &RowScope) -> Self {
        Self {
            name: name_tag(table),
            scope: scope_fingerprint(scope),
        }
    }
}

/// The cursor text for `seq` read with a view of `stamps`.
pub fn stamped(seq: i64, stamps: &[TableStamp]) -> String {
    let mut text = format!("{seq}.");
    for stamp in stamps {
        text.push_str(&format!("{:06x}{:08x}", stamp.name, stamp.scope));
    }
    text
}

/// Reads a cursor given by a client (`""` and absent mean "from the start").
pub fn parse_cursor(cursor: Option<&str>) -> Result<Cursor, SyncError> {
    let Some(text) = cursor.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(Cursor::default());
    };
    let refused = || {
        SyncError::invalid(
            "cursor",
            format!("`{text}` is not a cursor returned by this gateway"),
        )
    };
    let (position, stamp) = match text.split_once('.') {
        Some((position, stamp)) => (position, Some(stamp)),
        None => (text, None),
    };
    let seq = position
        .parse::<i64>()
        .ok()
        .filter(|seq| *seq >= 0)
        .ok_or_else(refused)?;
    let view = match stamp {
        None => None,
        Some(stamp) => Some(parse_stamps(stamp).ok_or_else(refused)?),
    };
    Ok(Cursor { seq, view })
}

fn parse_stamps(text: &str) -> Option<Vec<TableStamp>> {
    if !text.len().is_multiple_of(STAMP_DIGITS) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(STAMP_DIGITS)
        .map(|at| {
            Some(TableStamp {
                name: u32::from_str_radix(&text[at..at + 6], 16).ok()?,
                scope: u32::from_str_radix(&text[at + 6..at + STAMP_DIGITS], 16).ok()?,
            })
        })
        .collect()
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

/// 24 bits of a table name's hash: enough to tell the tables of one view apart.
pub fn name_tag(table: &str) -> u32 {
    (fnv1a(table.as_bytes()) & 0x00ff_ffff) as u32
}

/// 32 bits of the hash of a scope's canonical text. The text is spelled out here rather than
/// taken from `Debug`, so that replicas of different builds stamp alike.
pub fn scope_fingerprint(scope: &RowScope) -> u32 {
    fnv1a(scope_text(scope).as_bytes()) as u32
}

fn scope_text(scope: &RowScope) -> String {
    match scope {
        RowScope::All => "all".to_string(),
        RowScope::Equals {
            column,
            value: Some(value),
            assignees,
            ..
        } => format!("{column}={value};{}", assignees.as_deref().unwrap_or("")),
        RowScope::Equals { value: None, .. } => "none".to_string(),
        RowScope::Parent(parent) => format!(
            "{}->{}.{}:{}",
            parent.column,
            parent.table,
            parent.key,
            scope_text(&parent.scope)
        ),
    }
}

/// FNV-1a, 64 bits: stable across processes and builds, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stamped_cursor_reads_back_as_written() {
        let scope = RowScope::Equals {
            column: "branch_id".into(),
            kind: crate::schema::model::ColumnType::Integer,
            value: Some(json!(1)),
            assignees: None,
        };
        let stamps = vec![
            TableStamp::of("items", &scope),
            TableStamp::of("catalog", &RowScope::All),
        ];
        let text = stamped(42, &stamps);
        assert_eq!(
            parse_cursor(Some(&text)).unwrap(),
            Cursor {
                seq: 42,
                view: Some(stamps)
            }
        );
        assert_eq!(parse_cursor(Some("7")).unwrap().view, None);
        for bad in ["7.", "7.zz", "7.abc", "-1", "x.0123456789abcd"] {
            let parsed = parse_cursor(Some(bad));
            // "7." is an empty view (no tables), the others are not cursors.
            assert_eq!(parsed.is_ok(), bad == "7.", "{bad}");
        }
    }

    #[test]
    fn another_claim_value_changes_the_fingerprint() {
        let branch = |value| RowScope::Equals {
            column: "branch_id".into(),
            kind: crate::schema::model::ColumnType::Integer,
            value: Some(json!(value)),
            assignees: None,
        };
        assert_ne!(scope_fingerprint(&branch(1)), scope_fingerprint(&branch(2)));
        assert_eq!(scope_fingerprint(&branch(1)), scope_fingerprint(&branch(1)));
    }
}
