//! The metric names, the process's one recorder (`metrics-exporter-prometheus`), and the
//! guards that count open long-polls and streams. The scrape itself, which reads the values
//! that live in the database or the gateway's state, is `server::metrics_endpoint`.
//!
//! One recorder serves the whole process (the `metrics` macros write to a global one); the
//! binary runs one gateway per process.

use metrics::{Counter, Gauge, Unit, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

pub const HTTP_REQUESTS: &str = "syncgate_http_requests_total";
pub const HTTP_DURATION: &str = "syncgate_http_request_duration_seconds";
pub const PUSH_OPERATIONS: &str = "syncgate_push_operations_total";
pub const ROWS_SERVED: &str = "syncgate_rows_served_total";
pub const EXTERNAL_CHANGES: &str = "syncgate_external_changes_total";
pub const FEED_READS: &str = "syncgate_feed_reads_total";
pub const LONG_POLLS_OPEN: &str = "syncgate_long_polls_open";
pub const LIVE_STREAMS_OPEN: &str = "syncgate_live_streams_open";
pub const OUTBOX_ENTRIES: &str = "syncgate_outbox_entries";
pub const OUTBOX_OLDEST_PENDING: &str = "syncgate_outbox_oldest_pending_age_seconds";
pub const UPSTREAM_REACHABLE: &str = "syncgate_upstream_reachable";
pub const JOB_RUNS: &str = "syncgate_job_runs_total";
pub const WEBHOOK_DELIVERIES: &str = "syncgate_webhook_deliveries";
pub const HOOK_FAILURES: &str = "syncgate_hook_failures_total";
pub const CONFLICTS_OPEN: &str = "syncgate_conflicts_open";
pub const SCHEMA_RELOADS: &str = "syncgate_schema_reloads_total";
pub const SCHEMA_GENERATION: &str = "syncgate_schema_generation";
pub const DB_POOL_CONNECTIONS: &str = "syncgate_db_pool_connections";
pub const DB_POOL_MAX: &str = "syncgate_db_pool_max_connections";
pub const DB_POOL_WAIT: &str = "syncgate_db_pool_wait_seconds";

/// Histogram buckets (seconds), from a fast read to a long-poll's usual wait.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder (once) and returns its handle; `None` if another recorder
/// was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

/// Whether this process's recorder is installed (by [`install`]).
pub fn installed() -> bool {
    matches!(HANDLE.get(), Some(Some(_)))
}

/// The handle `cell` keeps, looked up with `lookup` the first time after the recorder is
/// installed (a handle taken before would count nothing for ever).
fn kept<T: Clone>(cell: &OnceLock<T>, lookup: impl FnOnce() -> T) -> T {
    if let Some(kept) = cell.get() {
        return kept.clone();
    }
    let found = lookup();
    if installed() {
        let _ = cell.set(found.clone());
    }
    found
}

/// Histogram samples wait in buffers until upkeep folds them in; run it now and then so they do
/// not grow between scrapes.
pub fn spawn_upkeep(handle: &'static PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(5));
        loop {
            ticker.tick().await;
            handle.run_upkeep();
        }
    })
}

/// Counts a changes request waiting for a write while it lives.
pub struct LongPoll(());

impl LongPoll {
    pub fn open() -> Self {
        long_polls_open().increment(1.0);
        Self(())
    }
}

impl Drop for LongPoll {
    fn drop(&mut self) {
        long_polls_open().decrement(1.0);
    }
}

fn long_polls_open() -> Gauge {
    static GAUGE: OnceLock<Gauge> = OnceLock::new();
    kept(&GAUGE, || gauge!(LONG_POLLS_OPEN))
}

/// Counts an open live stream while it lives.
pub struct LiveStream(());

impl LiveStream {
    pub fn open() -> Self {
        gauge!(LIVE_STREAMS_OPEN).increment(1.0);
        Self(())
    }
}

impl Drop for LiveStream {
    fn drop(&mut self) {
        gauge!(LIVE_STREAMS_OPEN).decrement(1.0);
    }
}

/// Counts rows served by `endpoint`: `changes` or `pull`.
pub fn rows_served(endpoint: &'static str, rows: usize) {
    static CHANGES: OnceLock<Counter> = OnceLock::new();
    static PULL: OnceLock<Counter> = OnceLock::new();
    let lookup = || metrics::counter!(ROWS_SERVED, "endpoint" => endpoint);
    let counter = match endpoint {
        "changes" => kept(&CHANGES, lookup),
        "pull" => kept(&PULL, lookup),
        _ => lookup(),
    };
    counter.increment(rows as u64);
}

/// Counts rows of a declared table that another connection changed, as they enter the feed.
pub fn external_changes(table: &str, rows: usize) {
    metrics::counter!(EXTERNAL_CHANGES, "table" => table.to_string()).increment(rows as u64);
}

/// Records how long a write transaction waited for its connection (and, on SQLite, for this
/// process's turn to write).
pub fn record_pool_wait(waited: Duration) {
    metrics::histogram!(DB_POOL_WAIT).record(waited.as_secs_f64());
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by route template and method."
    );
    describe_counter!(
        PUSH_OPERATIONS,
        "Pushed operations by table and outcome (applied, conflict, error, replayed)."
    );
    describe_counter!(
        EXTERNAL_CHANGES,
        "Rows changed outside the gateway (other connections' INSERT, UPDATE, DELETE) that \
         entered the changes feed, by table."
    );
    describe_counter!(
        ROWS_SERVED,
        "Rows served by the changes feed and pull, by endpoint."
    );
    describe_counter!(
        FEED_READS,
        "Reads of the changes feed (long-polls and streams with one view share one)."
    );
    describe_gauge!(
        LONG_POLLS_OPEN,
        "Changes requests waiting for a write (wait=)."
    );
    describe_gauge!(LIVE_STREAMS_OPEN, "Open live streams (GET /sync/stream).");
    describe_gauge!(OUTBOX_ENTRIES, "Outbox entries by status (edge).");
    describe_gauge!(
        OUTBOX_OLDEST_PENDING,
        Unit::Seconds,
        "Age of the oldest pending outbox entry, 0 when none is pending (edge)."
    );
    describe_gauge!(
        UPSTREAM_REACHABLE,
        "1 when the last check reached the hub, else 0 (edge)."
    );
    describe_counter!(
        JOB_RUNS,
        "Scheduled job runs by job and outcome (ok, failed)."
    );
    describe_gauge!(
        WEBHOOK_DELIVERIES,
        "after_commit webhook deliveries by status."
    );
    describe_counter!(
        HOOK_FAILURES,
        "Hook calls that failed (script error, refusal or unreachable webhook), by script."
    );
    describe_gauge!(CONFLICTS_OPEN, "Conflicts waiting for a resolution.");
    describe_counter!(SCHEMA_RELOADS, "Schema reloads by outcome (ok, failed).");
    describe_gauge!(
        SCHEMA_GENERATION,
        "Generation of the schema being served: 1 at start, +1 per successful reload."
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Open database connections by state (in_use, idle)."
    );
    describe_gauge!(
        DB_POOL_MAX,
        "The pool's largest size (database.max_connections)."
    );
    describe_histogram!(
        DB_POOL_WAIT,
        Unit::Seconds,
        "Time a write transaction waited for its connection and its turn to write."
    );
}
