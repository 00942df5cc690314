//! The operations keys: cross-origin requests (`[server.cors]`) and the Prometheus endpoint
//! (`[metrics]`).

use super::Secret;
use serde::Deserialize;
use std::net::SocketAddr;
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

/// `GET /metrics` in the Prometheus text format.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` at all.
    pub enabled: bool,
    /// A separate address for `/metrics` (e.g. `127.0.0.1:9464`), kept off the public listener.
    /// Absent: `/metrics` is served on `server.listen`.
    pub listen: Option<SocketAddr>,
    /// A bearer token a scraper must send (`Authorization: Bearer …`). Absent: open.
    pub token: Option<Secret>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
            token: None,
        }
    }
}
