//! The request's span, put in the request by the server's request log, so that the handlers can
//! add the verified caller to every line logged for the request.

use crate::auth::Caller;
use poem::Request;

/// What the request's handlers add to its log line.
#[derive(Clone)]
pub struct RequestSpan(tracing::Span);

impl RequestSpan {
    pub fn new(span: tracing::Span) -> Self {
        Self(span)
    }
}

/// Adds the verified caller to the request's log lines.
pub fn note_caller(request: &Request, caller: &Caller) {
    if let Some(RequestSpan(span)) = request.extensions().get::<RequestSpan>() {
        span.record("subject", caller.subject.as_str());
        if let Some(device) = &caller.device_id {
            span.record("device", device.as_str());
        }
    }
}
