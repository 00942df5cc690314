//! The authenticated caller and the rows its role reaches in a table.

use super::Claims;
use crate::schema::TableDef;
use crate::schema::model::{Column, ColumnType, NamedScope, Scope};
use crate::schema::values;
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    pub role: String,
    pub branch: Option<Value>,
    /// Every claim of the token, for scope rules.
    pub claims: Map<String, Value>,
    /// The registered device, when the caller authenticated with a device token.
    pub device_id: Option<String>,
    /// When the caller's JWT expires (`exp`, seconds since the epoch); `None` for a device
    /// token, which lasts until it is revoked.
    pub expires_at: Option<i64>,
}

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

impl Caller {
    pub fn from_claims(claims: Claims) -> Self {
        let mut all = claims.other.clone();
        all.insert("sub".into(), Value::String(claims.sub.clone()));
        all.insert("role".into(), Value::String(claims.role.clone()));
        if let Some(branch) = &claims.branch {
            all.insert("branch".into(), branch.clone());
        }
        Self {
            subject: claims.sub,
            role: claims.role,
            branch: claims.branch.filter(|b| !b.is_null()),
            claims: all,
            device_id: None,
            expires_at: Some(claims.exp),
        }
    }

    /// The gateway itself, writing on its own account (rows pulled from the hub). It has no
    /// role, so the API never admits it; only the write pipeline's callers build it.
    pub fn system(subject: &str) -> Self {
        Self {
            subject: subject.to_string(),
            role: String::new(),
            branch: None,
            claims: Map::new(),
            device_id: None,
            expires_at: None,
        }
    }

    /// The caller a device token acts as: the claims its device was registered with.
    pub fn from_device(device_id: &str, claims: &Map<String, Value>) -> Self {
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Self {
            subject: text("sub"),
            role: text("role"),
            branch: claims.get("branch").cloned().filter(|b| !b.is_null()),
            claims: claims.clone(),
            device_id: Some(device_id.to_string()),
            expires_at: None,
        }
    }

    /// The caller's branch as text, for messages and status answers.
    pub fn branch_text(&self) -> Option<String> {
        self.branch.as_ref().map(|b| match b {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// The rows of `table` the caller's role (with `scope`) reaches.
    pub fn row_scope(&self, scope: &Scope, table: &TableDef) -> RowScope {
        if table.spec.shared {
            return RowScope::All;
        }
        let (column, claim) = match scope {
            Scope::Named(NamedScope::All) => return RowScope::All,
            Scope::Named(NamedScope::Branch) => (table.spec.branch_column.as_deref(), "branch"),
            Scope::Named(NamedScope::Owner) => (table.spec.owner_column.as_deref(), "sub"),
            Scope::Claim(rule) => (Some(rule.column.as_str()), rule.claim.as_str()),
        };
        let Some(column) = column else {
            return RowScope::Equals {
                column: String::new(),
                value: None,
                assignees: None,
            };
        };
        let assignees = match scope {
            Scope::Named(NamedScope::Owner) => table.spec.assignees_column.clone(),
            _ => None,
        };
        let value = table
            .spec
            .columns
            .get(column)
            .zip(self.claims.get(claim))
            .and_then(|(declared, claim)| claim_as_column_value(declared, claim));
        RowScope::Equals {
            column: column.to_string(),
            value,
            assignees,
        }
    }
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

/// A claim converted to the type of the column it is compared with (a `branch` claim of "3"
/// matches an integer branch column holding 3); `None` when it cannot be.
fn claim_as_column_value(column: &Column, claim: &Value) -> Option<Value> {
    let candidate = match (column.kind, claim) {
        (_, Value::Null) => return None,
        (ColumnType::Integer, Value::String(text)) => Value::from(text.trim().parse::<i64>().ok()?),
        (ColumnType::Real | ColumnType::Decimal, Value::String(text)) => {
            serde_json::Number::from_f64(text.trim().parse::<f64>().ok()?).map(Value::Number)?
        }
        (ColumnType::Text | ColumnType::Enum | ColumnType::Uuid, Value::Number(n)) => {
            Value::String(n.to_string())
        }
        (_, other) => other.clone(),
    };
    let lenient = Column {
        nullable: false,
        min: None,
        max: None,
        min_length: None,
        max_length: None,
        ..column.clone()
    };
    values::check_value(&lenient, &candidate).ok()?;
    Some(values::normalize(column, candidate))
}
