//! Cross-origin requests from browser apps served elsewhere (`[server.cors]`), answered by poem's
//! CORS middleware: preflights, allowed origins, and the headers a browser script may read.

use crate::config::CorsConfig;
use poem::http::Method;
use poem::middleware::Cors;

/// Request headers the API reads.
const ALLOWED_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "x-request-id",
    "if-none-match",
    "range",
    "last-event-id",
];

/// Response headers a browser script needs (resuming downloads, following a created resource).
const EXPOSED_HEADERS: &[&str] = &[
    "x-request-id",
    "etag",
    "content-range",
    "accept-ranges",
    "content-disposition",
    "location",
    "retry-after",
    "allow",
];

/// The middleware for `config`, or `None` when no origin is allowed (no CORS headers at all, and
/// a preflight is answered like any other `OPTIONS` request).
pub fn middleware(config: &CorsConfig) -> Option<Cors> {
    if config.allowed_origins.is_empty() {
        return None;
    }
    let mut cors = Cors::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
        ])
        .allow_headers(ALLOWED_HEADERS.iter().copied())
        .expose_headers(EXPOSED_HEADERS.iter().copied())
        .max_age(i32::try_from(config.max_age.as_secs()).unwrap_or(i32::MAX));
    // With `*` no origin is listed, which the middleware takes as "any origin".
    if !config.allowed_origins.iter().any(|origin| origin == "*") {
        cors = cors.allow_origins(config.allowed_origins.iter().map(String::as_str));
    }
    Some(cors)
}
