//! Which rows of one table a reader or writer reaches: the filter the row queries become, and
//! the same test on a row in memory. Worked out from a caller's role by `sync::access`.

use crate::schema::model::ColumnType;
use serde_json::{Map, Value};

/// Which rows of one table the caller reaches.
#[derive(Debug, Clone, PartialEq)]
pub enum RowScope {
    All,
    /// Rows whose `column` (of type `kind`) equals `value`, or whose `assignees` column (a JSON
    /// array) lists it; `value` is `None` when the caller lacks the claim (no rows).
    Equals {
        column: String,
        kind: ColumnType,
        value: Option<Value>,
        assignees: Option<String>,
    },
    /// Rows whose `column` names a row of a parent table that the caller reaches (`scope_from`).
    Parent(Box<ParentScope>),
}

/// The parent rows a table's rows take their scope from.
#[derive(Debug, Clone, PartialEq)]
pub struct ParentScope {
    /// The child's column holding the parent's key.
    pub column: String,
    pub table: String,
    /// The parent's primary key column and its type.
    pub key: String,
    pub key_kind: ColumnType,
    /// Which parent rows the caller reaches.
    pub scope: RowScope,
}

/// What a row in memory says about whether it is in scope.
#[derive(Debug, PartialEq)]
pub enum Admission<'scope, 'row> {
    Yes,
    No,
    /// It is when the parent row with this key is, in the parent's scope.
    IfParent(&'scope ParentScope, &'row Value),
}

impl RowScope {
    /// Whether a row (declared columns, normalised values) is in scope, as far as the row alone
    /// tells: a row scoped through a parent needs that parent looked up.
    pub fn admits<'row>(&self, row: &'row Map<String, Value>) -> Admission<'_, 'row> {
        let yes = |admitted: bool| {
            if admitted {
                Admission::Yes
            } else {
                Admission::No
            }
        };
        match self {
            RowScope::All => Admission::Yes,
            RowScope::Equals {
                column,
                value: Some(value),
                assignees,
                ..
            } => yes(row.get(column) == Some(value)
                || assignees
                    .as_ref()
                    .and_then(|assignees| row.get(assignees))
                    .and_then(Value::as_array)
                    .is_some_and(|listed| listed.contains(value))),
            RowScope::Equals { value: None, .. } => Admission::No,
            RowScope::Parent(parent) => match row.get(&parent.column) {
                None | Some(Value::Null) => Admission::No,
                Some(key) => Admission::IfParent(parent, key),
            },
        }
    }

    /// The scope that decides in the end: the innermost parent's, or this one.
    pub fn root(&self) -> &RowScope {
        match self {
            RowScope::Parent(parent) => parent.scope.root(),
            other => other,
        }
    }
}
