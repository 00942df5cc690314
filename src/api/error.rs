//! `ApiError`: every failure of an endpoint, answered with the one error body
//! `{"error": {"code", "message", "details"}}` and documented in the OpenAPI document.

use super::error_body::ErrorBody;
use crate::auth::AuthError;
use crate::files::attach::FileError;
use crate::sync::SyncError;
use crate::sync::push::PushFailure;
use crate::upstream::snapshot::SnapshotError;
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

    /// The error body: `{"error": {"code", "message", "details"}}`.
    pub fn body(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message, "details": self.details}})
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
        let mut response = poem::web::Json(self.body())
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
        "The key is taken by a row outside the caller's scope, or the conflict is resolved; \
         `resync_required` on a read: the caller's view changed since its cursor was handed out \
         (details: `tables` to read again from the start, `dropped` to drop, `cursor` to go on \
         from).",
    ),
    (
        413,
        "The request body is larger than `server.max_body_bytes`.",
    ),
    (
        415,
        "The request has a body of another type than the operation reads (JSON, unless it \
         says otherwise), or none.",
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
    (
        503,
        "Concurrent writers kept this change from committing (`contended`: retry it), the \
         hub cannot be reached, or the database is not ready.",
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

/// Every sync-core failure answered alike, for the whole request or (as `OpError`) for one
/// operation: the same `code`, from [`SyncError::code`].
impl From<SyncError> for ApiError {
    fn from(error: SyncError) -> Self {
        let message = error.to_string();
        let code = error.code();
        let status = match &error {
            SyncError::UnknownTable { .. } | SyncError::RowNotFound { .. } => StatusCode::NOT_FOUND,
            SyncError::Forbidden(_) => StatusCode::FORBIDDEN,
            SyncError::Invalid { .. } | SyncError::OpIdReused(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            SyncError::KeyTaken(_)
            | SyncError::AlreadyResolved(_)
            | SyncError::ResyncRequired { .. } => StatusCode::CONFLICT,
            SyncError::BadRequest(_) => StatusCode::BAD_REQUEST,
            SyncError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            SyncError::Contended(_) => StatusCode::SERVICE_UNAVAILABLE,
            SyncError::Hook(crate::plugins::HookError::Rejected { .. }) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            SyncError::Hook(crate::plugins::HookError::Failed { .. }) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            SyncError::Db(db) if is_unique_violation(db) => StatusCode::CONFLICT,
            SyncError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let details = match error {
            SyncError::UnknownTable { table, available } => {
                json!({"table": table, "available_tables": available})
            }
            SyncError::RowNotFound { table, key } => json!({"table": table, "key": key}),
            SyncError::Invalid { field, .. } => json!({"field": field}),
            SyncError::OpIdReused(_) => json!({"field": "op_id"}),
            SyncError::ResyncRequired {
                tables,
                dropped,
                cursor,
            } => json!({"field": "cursor", "tables": tables, "dropped": dropped, "cursor": cursor}),
            SyncError::Hook(crate::plugins::HookError::Rejected {
                hook,
                message: reason,
            }) => json!({"hook": hook, "reason": reason}),
            SyncError::Hook(crate::plugins::HookError::Failed { hook, function, .. }) => {
                tracing::error!(%hook, %function, error = %message, "hook failed");
                json!({"hook": hook, "function": function})
            }
            SyncError::Db(db) if is_unique_violation(&db) => {
                tracing::warn!(error = %db, "a write hit a unique constraint");
                return ApiError::new(
                    status,
                    "key_taken",
                    "the write conflicts with a row that already exists",
                );
            }
            SyncError::Db(db) => {
                tracing::error!(error = %db, "database error");
                return ApiError::new(
                    status,
                    code,
                    "internal error; the gateway log has the details",
                );
            }
            _ => json!({}),
        };
        ApiError::new(status, code, message).with_details(details)
    }
}

fn is_unique_violation(error: &sea_orm::DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

impl From<PushFailure> for ApiError {
    fn from(failure: PushFailure) -> Self {
        let field = failure.error.field().map(String::from);
        let mut error = ApiError::from(failure.error);
        let Some(operation) = failure.operation else {
            return error;
        };
        let op = match &operation.op_id {
            Some(op_id) => format!(
                "operation {} (op_id `{op_id}`, table `{}`)",
                operation.index, operation.table
            ),
            None => format!(
                "operation {} (table `{}`)",
                operation.index, operation.table
            ),
        };
        if error.status != StatusCode::INTERNAL_SERVER_ERROR {
            error.message = format!("{op}: {}; nothing was written", error.message);
        }
        let mut details = json!({"index": operation.index, "op_id": operation.op_id, "table": operation.table, "field": field});
        if let (Value::Object(extra), Value::Object(target)) = (&error.details, &mut details) {
            for (key, value) in extra {
                target.entry(key.clone()).or_insert(value.clone());
            }
        }
        error.details = details;
        error
    }
}

impl From<FileError> for ApiError {
    fn from(error: FileError) -> Self {
        let message = error.to_string();
        match error {
            FileError::Sync(sync) => sync.into(),
            FileError::TooLarge { size, max, .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "file_too_large", message)
                    .with_details(json!({"size": size, "max_size": max}))
            }
            FileError::Unsupported { found, .. } => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                message,
            )
            .with_details(json!({"media_type": found})),
            FileError::BadRequest(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
            }
            FileError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            FileError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            FileError::Storage(io) => {
                tracing::error!(error = %io, "file storage failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "file storage failed; the gateway log has the details",
                )
            }
        }
    }
}

impl From<SnapshotError> for ApiError {
    fn from(error: SnapshotError) -> Self {
        match error {
            SnapshotError::Hub(hub) if hub.is_unreachable() => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "hub_unreachable",
                hub.to_string(),
            ),
            SnapshotError::Hub(hub) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "hub_refused", hub.to_string())
            }
            SnapshotError::Sync(sync) => sync.into(),
        }
    }
}
