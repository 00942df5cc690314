//! How an answered request is counted: `syncgate_http_requests_total` and
//! `syncgate_http_request_duration_seconds`, their handles looked up once per route, method and
//! status and kept. Building the labels and finding the series in the recorder at every request
//! was about 6 % of the gateway's time answering 8,000 long-polls woken by one commit.
//!
//! A handle taken before the process's recorder is installed would count nothing for ever, so
//! handles are kept only once it is ([`super::metrics::installed`]); until then each request
//! asks the recorder, as the `metrics` macros do.

use super::metrics::{HTTP_DURATION, HTTP_REQUESTS, installed};
use metrics::{Counter, Histogram};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// A request's count and duration, by route template, then by method and status.
type RequestSeries = HashMap<String, HashMap<(&'static str, u16), (Counter, Histogram)>>;

static REQUESTS: LazyLock<Mutex<RequestSeries>> = LazyLock::new(Default::default);

/// Counts an answered request and records how long it took.
pub fn count_request(route: &str, method: &'static str, status: u16, elapsed: Duration) {
    let (counter, histogram) = request_series(route, method, status);
    counter.increment(1);
    histogram.record(elapsed.as_secs_f64());
}

fn request_series(route: &str, method: &'static str, status: u16) -> (Counter, Histogram) {
    let lookup = || {
        (
            metrics::counter!(HTTP_REQUESTS, "route" => route.to_string(), "method" => method,
                "status" => status.to_string()),
            metrics::histogram!(HTTP_DURATION, "route" => route.to_string(), "method" => method),
        )
    };
    if !installed() {
        return lookup();
    }
    let mut series = REQUESTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(kept) = series.get(route).and_then(|by| by.get(&(method, status))) {
        return kept.clone();
    }
    let found = lookup();
    series
        .entry(route.to_string())
        .or_default()
        .insert((method, status), found.clone());
    found
}
