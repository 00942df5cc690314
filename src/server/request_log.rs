//! One log line per request, its `X-Request-Id`, and the HTTP metrics.
//!
//! Every request runs inside a `request` span carrying its id, so each line logged while it is
//! handled carries the id too; the caller's subject and device join the span once the bearer
//! token is verified. The id comes from the client's `X-Request-Id` header when it is a sensible
//! one, else it is generated, and every response returns it.

use crate::api::AppState;
use crate::api::request_span::RequestSpan;
use crate::ops::request_metrics::count_request;
use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Request, Response};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID: &str = "x-request-id";

/// Longest client-chosen request id kept; a longer or odd one is replaced by a generated id.
const MAX_REQUEST_ID: usize = 128;

/// Runs `request` through `next` inside its span, then logs it and counts it.
pub async fn around<E: Endpoint>(
    next: &E,
    mut request: Request,
    state: &Arc<AppState>,
) -> poem::Result<Response> {
    let started = Instant::now();
    let id = request_id(&request);
    let method = request.method().to_string();
    let method_label = method_label(request.method());
    let path = request.uri().path().to_string();
    let route = route_of(state, &path);
    // The span's name and kind in the trace export, only where traces are exported (the log
    // lines carry the span's fields, and the route is on them already).
    let span = if crate::trace_export::enabled() {
        tracing::info_span!(
            "request",
            request_id = %id,
            subject = tracing::field::Empty,
            device = tracing::field::Empty,
            otel.name = %format_args!("{method_label} {route}"),
            otel.kind = "server",
        )
    } else {
        tracing::info_span!(
            "request",
            request_id = %id,
            subject = tracing::field::Empty,
            device = tracing::field::Empty,
        )
    };
    crate::trace_export::continue_trace(&span, request.headers());
    request
        .extensions_mut()
        .insert(RequestSpan::new(span.clone()));
    let mut response = match next.call(request).instrument(span.clone()).await {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    crate::trace_export::describe_request(&span, method_label, &route, &path, status);
    let elapsed = started.elapsed();
    count_request(&route, method_label, status, elapsed);
    span.in_scope(|| {
        tracing::info!(
            target: "syncgate::request",
            method = %method,
            route = %route,
            path = %path,
            status,
            latency_ms = (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
            "request"
        )
    });
    Ok(response)
}

/// The client's id when it is 1–128 visible ASCII characters, else a new one.
fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty() && id.len() <= MAX_REQUEST_ID && id.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// The route template of `path` (`/api/v1/tables/orders/rows/{id}`), so that metrics keep one
/// series per route rather than one per row; paths no route serves count as `unmatched`.
/// The `method` label: one of the standard methods, or `other` — a label value taken from the
/// request itself would let any client, signed in or not, add series without end.
fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

fn route_of(state: &AppState, path: &str) -> String {
    match path {
        "/openapi.json" | "/metrics" | "/status" => return path.to_string(),
        _ if path == "/docs" || path.starts_with("/docs/") => return "/docs".into(),
        _ => {}
    }
    state
        .current
        .load()
        .api
        .methods
        .template_for(path)
        .unwrap_or("unmatched")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_id(id: &str) -> Request {
        Request::builder().header(REQUEST_ID, id).finish()
    }

    #[test]
    fn only_standard_methods_are_labels() {
        let made_up = poem::http::Method::from_bytes(b"M00000000000001").unwrap();
        assert_eq!(method_label(&made_up), "other");
        assert_eq!(method_label(&poem::http::Method::PATCH), "PATCH");
    }

    #[test]
    fn a_sensible_client_id_is_kept_and_an_odd_one_replaced() {
        assert_eq!(request_id(&with_id("abc-123")), "abc-123");
        assert_ne!(request_id(&with_id("has space")), "has space");
        assert_eq!(request_id(&with_id(&"x".repeat(129))).len(), 32);
        assert_eq!(request_id(&Request::default()).len(), 32);
    }
}
