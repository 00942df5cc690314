//! Bearer tokens of the test users, signed with the test servers' secret.

use serde_json::{Value, json};
use syncgate::auth::{Authenticator, Claims};
use syncgate::config::Secret;

/// The HS256 secret of every test server.
pub const TEST_SECRET: &str = "test-secret-that-is-long-enough-32b";

/// A token for `sub` with `role` and an optional branch, valid for an hour.
pub fn token(sub: &str, role: &str, branch: Option<Value>) -> String {
    token_with(sub, role, branch, serde_json::Map::new(), 3600)
}

pub fn token_with(
    sub: &str,
    role: &str,
    branch: Option<Value>,
    other: serde_json::Map<String, Value>,
    ttl_seconds: i64,
) -> String {
    let config = syncgate::config::AuthConfig {
        jwt_secret: Some(Secret::new(TEST_SECRET)),
        ..Default::default()
    };
    Authenticator::from_config(&config)
        .unwrap()
        .mint(&Claims {
            sub: sub.into(),
            role: role.into(),
            branch,
            exp: chrono::Utc::now().timestamp() + ttl_seconds,
            other,
        })
        .unwrap()
}

pub fn admin() -> String {
    token("admin", "ADMIN", None)
}

pub fn clerk(branch: i64) -> String {
    token(&format!("clerk-{branch}"), "CLERK", Some(json!(branch)))
}
