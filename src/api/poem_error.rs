//! Errors raised by poem itself (unknown route, body too large, bad method…), answered with the
//! one error body.

use super::error::ApiError;
use poem::Response;
use poem::http::StatusCode;

/// Maps errors raised by poem itself (unknown route, body too large, bad method…) to the error
/// body, so clients never see a plain-text error.
pub async fn render_poem_error(error: poem::Error) -> Response {
    use poem::error::ResponseError;
    if error.is::<ApiError>() {
        return error.into_response();
    }
    let status = error.status();
    if let Some(parse) = error.downcast_ref::<poem_openapi::error::ParseRequestPayloadError>() {
        return payload_error(&parse.reason).as_response();
    }
    if let Some(param) = error.downcast_ref::<poem_openapi::error::ParseParamError>() {
        return ApiError::bad_request(
            param.name,
            format!("parameter `{}`: {}", param.name, param.reason),
        )
        .as_response();
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such endpoint".to_string()),
        StatusCode::UNAUTHORIZED => (
            "unauthorized",
            "missing bearer token: send `Authorization: Bearer <token>`".into(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this endpoint does not accept that method".into(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body is larger than the configured `server.max_body_bytes`".into(),
        ),
        status if status.is_server_error() => {
            tracing::error!(%error, "request failed");
            (
                "internal",
                "internal error; the gateway log has the details".into(),
            )
        }
        _ => ("bad_request", error.to_string()),
    };
    ApiError::new(status, code, message).as_response()
}

/// A request body poem-openapi could not parse: a JSON syntax error (its message ends with the
/// position), or a body of the wrong shape.
fn payload_error(reason: &str) -> ApiError {
    // A documented constraint (length, pattern) of a field: the same 422 the sync core gives
    // for a value that does not fit.
    if let Some((_, rest)) = reason.split_once("field `")
        && let Some((field, check)) = rest.split_once("` verification failed. ")
    {
        return ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("`{field}` does not fit: {check}"),
        )
        .with_details(serde_json::json!({"field": field}));
    }
    // serde_json ends its messages with "at line L column C".
    let position = reason.rsplit_once(" at line ").and_then(|(_, at)| {
        let (line, column) = at.split_once(" column ")?;
        Some((line.parse().ok()?, column.trim().parse().ok()?))
    });
    ApiError::unreadable_body(position.is_some(), reason, position)
}
