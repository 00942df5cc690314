//! What ops see of a running gateway, as names any layer below the server may use: the
//! Prometheus metric names and the small guards that count what is open. No state of the
//! gateway lives here; the server renders `/metrics` (`server::metrics_endpoint`).

pub mod metrics;
pub mod request_metrics;
