//! Requests without credentials, for tables meant to be public (`auth.anonymous_role`): they act
//! as one caller, `anonymous`, with the configured role. A request that sends a token is never
//! served this way, whether its token is good or not.

use crate::auth::Caller;
use poem::Request;
use poem::http::HeaderValue;
use poem::http::header::AUTHORIZATION;
use serde_json::{Map, Value};

/// The subject every anonymous request acts as (in op records, outbox entries, hook contexts).
pub const ANONYMOUS_SUBJECT: &str = "anonymous";

/// Marks a request that came without an `Authorization` header, under an anonymous role.
#[derive(Clone)]
struct Anonymous(String);

/// Lets a request without credentials through the bearer check as the anonymous caller, when
/// `role` is configured. The header it adds is never read: the mark decides.
pub fn admit(request: &mut Request, role: Option<&str>) {
    let Some(role) = role else { return };
    if request.headers().contains_key(AUTHORIZATION) {
        return;
    }
    request.extensions_mut().insert(Anonymous(role.to_string()));
    request
        .headers_mut()
        .insert(AUTHORIZATION, HeaderValue::from_static("Bearer anonymous"));
}

/// The anonymous caller, when [`admit`] let this request in.
pub fn caller(request: &Request) -> Option<Caller> {
    let Anonymous(role) = request.extensions().get::<Anonymous>()?;
    let mut claims = Map::new();
    claims.insert("sub".into(), Value::String(ANONYMOUS_SUBJECT.into()));
    claims.insert("role".into(), Value::String(role.clone()));
    Some(Caller {
        subject: ANONYMOUS_SUBJECT.into(),
        role: role.clone(),
        branch: None,
        claims,
        device_id: None,
        expires_at: None,
        device_token_hash: None,
        reads_one_branch: false,
    })
}
