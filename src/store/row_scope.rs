//! Which rows of one table a reader or writer reaches: the filter the row queries become, and
//! the same test on a row in memory. Worked out from a caller's role by `sync::access`.

use serde_json::{Map, Value};

/// Which rows of one table the caller reaches.
#[derive(Debug, Clone, PartialEq)]
pub enum RowScope {
    All,
    /// Rows whose `column` equals `value`, or whose `assignees` column (a JSON array) lists
    /// it; `value` is `None` when the caller lacks the claim (no rows).
    Equals {
        column: String,
        value: Option<Value>,
        assignees: Option<String>,
    },
}

impl RowScope {
    /// Whether a row (declared columns, normalised values) is in scope.
    pub fn allows(&self, row: &Map<String, Value>) -> bool {
        match self {
            RowScope::All => true,
            RowScope::Equals {
                column,
                value: Some(value),
                assignees,
            } => {
                row.get(column) == Some(value)
                    || assignees
                        .as_ref()
                        .and_then(|assignees| row.get(assignees))
                        .and_then(Value::as_array)
                        .is_some_and(|listed| listed.contains(value))
            }
            RowScope::Equals { value: None, .. } => false,
        }
    }
}
