//! What ops see of a running gateway: Prometheus metrics, one log line per request with its
//! request id, cross-origin access for browser apps, and the status page.

pub mod cors;
pub mod metrics;
pub mod request_log;
pub mod status_page;
