//! `ApiError`: every failure of an endpoint, answered with the one error body
//! `{"error": {"code", "message", "details"}}` and documented in the OpenAPI document.

use super::error_body::ErrorBody;
use crate::auth::AuthError;
use crate::sync::SyncError;
use crate::sync::push::PushFailure;
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use serde_json::{Value, json};

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: json!({}),
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// A body that could not be read: a JSON syntax error, or JSON of the wrong shape, with the
    /// line and column where they are known.
    pub fn unreadable_body(syntax: bool, reason: &str, position: Option<(usize, usize)>) -> Self {
        let (code, message) = if syntax {
            (
                "malformed_json",
                format!("the body is not valid JSON: {reason}"),
            )
        } else {
            (
                "bad_request",
                format!("the body does not have the expected shape: {reason}"),
            )
        };
        let details = position.map_or(
            json!({}),
            |(line, column)| json!({"line": line, "column": column}),
        );
        Self::new(StatusCode::BAD_REQUEST, code, message).with_details(details)
    }

    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
            .with_details(json!({"field": field}))
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let body =
            json!({"error": {"code": self.code, "message": self.message, "details": self.details}});
        let mut response = poem::web::Json(body)
            .with_status(self.status)
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "WWW-Authenticate",
                "Bearer".parse().expect("a valid header value"),
            );
        }
        response
    }
}

/// The error statuses every authenticated endpoint may answer, for the OpenAPI document.
const DOCUMENTED: &[(u16, &str)] = &[
    (
        400,
        "Malformed request: bad JSON (with its position), a bad parameter.",
    ),
    (
        401,
        "Missing, malformed, expired or wrongly signed bearer token.",
    ),
    (
        403,
        "The caller's role may not do this, or the row is outside its scope.",
    ),
    (
        404,
        "Unknown table (the details list the tables the caller may use) or row.",
    ),
    (
        409,
        "The key is taken by a row outside the caller's scope, or the conflict is resolved.",
    ),
    (
        413,
        "The request body is larger than `server.max_body_bytes`.",
    ),
    (
        422,
        "A value does not fit its column (the details name the operation and the field), or a \
         hook rejected the operation.",
    ),
    (
        500,
        "A hook failed (the message names the script, the function and the line), or an \
         internal error.",
    ),
];

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: DOCUMENTED
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json",
                        schema: ErrorBody::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        SyncError::from(error).into()
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", error.to_string())
    }
}

impl From<SyncError> for ApiError {
    fn from(error: SyncError) -> Self {
        let message = error.to_string();
        match error {
            SyncError::UnknownTable { table, available } => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_table", message)
                    .with_details(json!({"table": table, "available_tables": available}))
            }
            SyncError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
            SyncError::RowNotFound { table, key } => {
                ApiError::new(StatusCode::NOT_FOUND, "row_not_found", message)
                    .with_details(json!({"table": table, "key": key}))
            }
            SyncError::Invalid { field, .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                message,
            )
            .with_details(json!({"field": field})),
            SyncError::KeyTaken(_) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            SyncError::BadRequest(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
            }
            SyncError::Hook(crate::plugins::HookError::Rejected {
                hook,
                message: reason,
            }) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rejected_by_hook",
                message,
            )
            .with_details(json!({"hook": hook, "reason": reason})),
            SyncError::Hook(crate::plugins::HookError::Failed { hook, function, .. }) => {
                tracing::error!(%hook, %function, error = %message, "hook failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "hook_failed", message)
                    .with_details(json!({"hook": hook, "function": function}))
            }
            SyncError::Db(db) => {
                tracing::error!(error = %db, "database error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the gateway log has the details",
                )
            }
        }
    }
}

impl From<PushFailure> for ApiError {
    fn from(failure: PushFailure) -> Self {
        let field = failure.error.field().map(String::from);
        let whole_request = failure.table.is_empty();
        let mut error = ApiError::from(failure.error);
        if whole_request {
            return error;
        }
        let op = match &failure.op_id {
            Some(op_id) => format!(
                "operation {} (op_id `{op_id}`, table `{}`)",
                failure.index, failure.table
            ),
            None => format!("operation {} (table `{}`)", failure.index, failure.table),
        };
        if error.status != StatusCode::INTERNAL_SERVER_ERROR {
            error.message = format!("{op}: {}; nothing was written", error.message);
        }
        let mut details = json!({"index": failure.index, "op_id": failure.op_id, "table": failure.table, "field": field});
        if let (Value::Object(extra), Value::Object(target)) = (&error.details, &mut details) {
            for (key, value) in extra {
                target.entry(key.clone()).or_insert(value.clone());
            }
        }
        error.details = details;
        error
    }
}
