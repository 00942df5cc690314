//! `[metrics]`: the Prometheus endpoint.

use super::Secret;
use serde::Deserialize;
use std::net::SocketAddr;

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
