//! The one error body every endpoint answers with: `{"error": {"code", "message", "details"}}`.

use poem_openapi::Object;
use serde_json::{Value, json};

/// An error answer, as documented in the OpenAPI document.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Object)]
pub struct ErrorDetail {
    /// Stable, machine-readable code, e.g. `not_found`, `validation_failed`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// Structured context (the field, the operation, the allowed values…); `{}` when none.
    pub details: Value,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                details: json!({}),
            },
        }
    }
}
