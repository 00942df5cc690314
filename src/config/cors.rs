//! `[server.cors]`: which other origins (browser apps served elsewhere) may call the API, and
//! what counts as an origin there.

use serde::Deserialize;
use std::time::Duration;

/// Which other origins (browser apps served elsewhere) may call the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins allowed to call the API from a browser, e.g. `https://app.example.com`; `*` allows
    /// any. Empty (the default): no cross-origin access.
    pub allowed_origins: Vec<String>,
    /// How long a browser may cache a preflight answer.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            max_age: Duration::from_secs(3600),
        }
    }
}

/// Why an entry of `server.cors.allowed_origins` is not an origin, if it is not.
pub fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let url = url::Url::parse(origin).map_err(|error| format!("not a URL ({error})"))?;
    let bare = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || bare != origin.trim_end_matches('/') {
        return Err(format!(
            "an origin is a scheme, a host and an optional port, e.g. `https://app.example.com`; \
             did you mean `{bare}`?"
        ));
    }
    Ok(())
}
