//! The authenticated caller: its subject, role, branch and claims.

use super::Claims;
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
    /// When the caller's credentials expire (seconds since the epoch): a JWT's `exp`, or the
    /// end of a device token's lifetime.
    pub expires_at: Option<i64>,
    /// The hash of the device token the caller authenticated with, to check it again later.
    pub device_token_hash: Option<String>,
    /// Reads narrowed to the branch in `branch` (`branch=` of the changes feed): the role reads
    /// as if it were scoped `branch`, whatever its scope.
    pub reads_one_branch: bool,
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
            device_token_hash: None,
            reads_one_branch: false,
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
            device_token_hash: None,
            reads_one_branch: false,
        }
    }

    /// The caller a device acts as: the claims its device was registered with (the token's
    /// lifetime and hash are filled in where the token is checked).
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
            device_token_hash: None,
            reads_one_branch: false,
        }
    }

    /// The caller's branch as text, for messages and status answers.
    pub fn branch_text(&self) -> Option<String> {
        self.branch.as_ref().map(|b| match b {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}
