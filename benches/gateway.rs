//! syncgate's benchmark: a real gateway (the release `syncgate` binary) driven over loopback
//! HTTP, next to a raw baseline doing the same durable writes in the same run.
//!
//!     cargo bench --bench gateway                       # SQLite
//!     cargo bench --bench gateway -- --postgres URL     # and PostgreSQL (an admin URL)
//!     cargo bench --bench gateway -- --quick            # smaller figures, for a smoke run
//!     cargo bench --bench gateway -- --push-only        # only the push figures
//!     cargo bench --bench gateway -- --push-rows N      # rows per push figure (20,000)
//!     cargo bench --bench gateway -- --live-only        # only the live figures
//!     cargo bench --bench gateway -- --reads-only       # only the read figures (changes, bootstrap)
//!     cargo bench --bench gateway -- --moves-only       # only the figures of rows moving between views
//!     cargo bench --bench gateway -- --external-only    # only the figures of writes made outside it
//!     cargo bench --bench gateway -- --streams N        # open streams (20,000; each takes a
//!                                                       # file descriptor in both processes)
//!
//! Figures: push (4 clients × 100 and × 500 rows per request; on PostgreSQL also into a table
//! grown to 200,000 rows), the changes feed to one client,
//! a 1,000,000-row bootstrap to a new device, N long-polling devices and N open live streams
//! woken by one write, (PostgreSQL) long-polls on a second replica woken by a write on the
//! first, rows moving between views (`gateway/move_figures.rs`), and writes made directly in the
//! database by another connection (`gateway/external_figures.rs`).
//! See BENCHMARKS.md for the latest results and what dominates the cost.

use serde_json::{Value, json};
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The gateway's allocator for the client too: with glibc's, the client's malloc and free were
/// about 14 % of all CPU while a write woke 10,000 long-polls, on the cores the gateway uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "gateway/devices.rs"]
mod devices;
#[path = "gateway/external_figures.rs"]
mod external_figures;
#[path = "gateway/move_figures.rs"]
mod move_figures;
#[path = "gateway/wrk_figures.rs"]
mod wrk_figures;

const SECRET: &str = "bench-secret-bench-secret-bench-secret";
const SCHEMA: &str = r#"
[roles.ADMIN]
scope = "all"
[roles.CLERK]
scope = "branch"
[roles.OWNER]
scope = "owner"

# The move figures (benches/gateway/move_figures.rs): rows of a branch, and jobs with visits.
[tables.stock]
branch_column = "branch_id"
permissions = { ADMIN = "crud", CLERK = "r" }
[tables.stock.columns]
id = { type = "text" }
branch_id = { type = "integer" }
note = { type = "text" }

[tables.jobs]
owner_column = "owner"
permissions = { ADMIN = "crud", OWNER = "r" }
[tables.jobs.columns]
id = { type = "text" }
owner = { type = "text" }

[tables.visits]
scope_from = { column = "job_id", table = "jobs" }
permissions = { ADMIN = "crud", OWNER = "r" }
[tables.visits.columns]
id = { type = "text" }
job_id = { type = "text" }
note = { type = "text" }

[tables.events]
permissions = { ADMIN = "crud" }
[tables.events.columns]
id = { type = "text" }
branch_id = { type = "integer" }
device = { type = "text" }
kind = { type = "enum", values = ["sale", "refund", "count"] }
amount = { type = "decimal" }
created_at = { type = "timestamp" }
"#;

struct Args {
    postgres: Option<String>,
    /// Only the push figures (for profiling the write path).
    push_only: bool,
    push_rows: usize,
    /// Rows a table holds before the "grown table" push figures (PostgreSQL).
    grown_rows: usize,
    bootstrap_rows: usize,
    live: Vec<usize>,
    streams: Vec<usize>,
    /// Long-polls on a second replica (PostgreSQL).
    cross: usize,
    live_only: bool,
    /// Only the read figures (changes, bootstrap, moves), after the push figure they read.
    reads_only: bool,
    /// Only the figures of rows moving between views.
    moves_only: bool,
    /// Only the figures of writes made outside the gateway.
    external_only: bool,
    /// Rows of the moved-rows feed figure, and visits under the reassigned job.
    moved_rows: usize,
    children: usize,
}

fn args() -> Args {
    let mut args = Args {
        postgres: None,
        push_only: false,
        push_rows: 20_000,
        grown_rows: 200_000,
        bootstrap_rows: 1_000_000,
        live: vec![1_000, 10_000],
        streams: vec![20_000],
        cross: 1_000,
        live_only: false,
        reads_only: false,
        moves_only: false,
        external_only: false,
        moved_rows: 100_000,
        children: 10_000,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--postgres" => args.postgres = iter.next(),
            "--push-only" => args.push_only = true,
            "--live-only" => args.live_only = true,
            "--reads-only" => args.reads_only = true,
            "--moves-only" => args.moves_only = true,
            "--external-only" => args.external_only = true,
            "--streams" => {
                args.streams = vec![
                    iter.next()
                        .and_then(|n| n.parse().ok())
                        .expect("--streams N"),
                ]
            }
            "--push-rows" => {
                args.push_rows = iter
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--push-rows N")
            }
            "--quick" => {
                args.push_rows = 4_000;
                args.grown_rows = 20_000;
                args.bootstrap_rows = 50_000;
                args.live = vec![200];
                args.streams = vec![200];
                args.cross = 100;
                args.moved_rows = 10_000;
                args.children = 1_000;
            }
            "--bench" => {}
            other => eprintln!("ignoring argument {other}"),
        }
    }
    args
}

fn progress(text: &str) {
    eprint!("\r\x1b[2K  {text}");
    let _ = std::io::stderr().flush();
}

fn token() -> String {
    let config = syncgate::config::AuthConfig {
        jwt_secret: Some(syncgate::config::Secret::new(SECRET)),
        ..Default::default()
    };
    syncgate::auth::Authenticator::from_config(&config)
        .unwrap()
        .mint(&syncgate::auth::Claims {
            sub: "bench".into(),
            role: "ADMIN".into(),
            branch: None,
            exp: chrono::Utc::now().timestamp() + 86_400,
            other: Default::default(),
        })
        .unwrap()
}

fn row(i: usize) -> Value {
    json!({"id": format!("e{i:08}"), "branch_id": (i % 20) as i64, "device": format!("till-{}", i % 7),
           "kind": "sale", "amount": format!("{}.{:02}", i % 1000, i % 100), "created_at": "2026-11-22T10:00:00Z"})
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn peak_rss_mb(&self) -> f64 {
        self.status_kb("VmHWM:") / 1024.0
    }

    /// The gateway's resident memory now, in KB.
    fn rss_kb(&self) -> f64 {
        self.status_kb("VmRSS:")
    }

    fn status_kb(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(0.0)
    }
}

/// CPU time every thread of process `pid` has run, in ns (the first field of each thread's
/// `schedstat`; `/proc/PID/stat` counts in 10 ms ticks, too coarse for a window of 200 ms).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    threads
        .filter_map(|thread| std::fs::read_to_string(thread.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The CPU the gateway and this process (the devices' client) spent from a live figure's write
/// to its last delivery: where the delivery window's time went, steadier than its latency on
/// two cores both processes share.
struct CpuWindow {
    gateway: u32,
    at_write: (u64, u64),
}

impl CpuWindow {
    fn start(server: &Server) -> Self {
        let gateway = server.child.id();
        Self {
            gateway,
            at_write: (cpu_ns(gateway), cpu_ns(std::process::id())),
        }
    }

    /// Microseconds of CPU per delivery: the gateway's and the client's.
    fn per_delivery(&self, delivered: usize) -> String {
        let spent = |now: u64, then: u64| now.saturating_sub(then) as f64 / 1000.0;
        let gateway = spent(cpu_ns(self.gateway), self.at_write.0);
        let client = spent(cpu_ns(std::process::id()), self.at_write.1);
        let n = delivered.max(1) as f64;
        format!(
            "CPU per delivery: gateway {:.1} µs, client {:.1} µs",
            gateway / n,
            client / n
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_server(dir: &std::path::Path, database_url: &str) -> Server {
    start_server_with(dir, database_url, "").await
}

/// [`start_server`] with more keys of the config's `[sync]` section.
async fn start_server_with(dir: &std::path::Path, database_url: &str, sync_keys: &str) -> Server {
    std::fs::create_dir_all(dir.join("schemas")).unwrap();
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::write(dir.join("schemas/bench.toml"), SCHEMA).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        "[server]\nmax_body_bytes = 104857600\n[database]\nurl = \"{database_url}\"\nmax_connections = 16\n\
         [auth]\njwt_secret = \"{SECRET}\"\n[log]\nlevel = \"warn\"\n[sync]\nmax_batch = 5000\n{sync_keys}\
         [jobs.maintenance]\nschedule = \"\"\n[plugins]\nwatch = false\n"
    );
    std::fs::write(dir.join("config.toml"), config).unwrap();
    // `SGBENCH_GATEWAY` runs another build of the gateway (to compare two builds in one run).
    let binary = std::env::var_os("SGBENCH_GATEWAY")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_syncgate").into());
    let child = Command::new(binary)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(dir.join("config.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start syncgate");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client
        .get(format!("{base}/ready"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server { child, base }
}

#[derive(Default)]
struct Latencies(Vec<Duration>);

impl Latencies {
    fn summary(&mut self) -> String {
        self.0.sort();
        let pick = |q: f64| {
            let i = ((self.0.len() as f64 * q).ceil() as usize).clamp(1, self.0.len()) - 1;
            self.0[i].as_secs_f64() * 1000.0
        };
        if self.0.is_empty() {
            return "-".into();
        }
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            pick(0.50),
            pick(0.99),
            pick(1.0)
        )
    }
}

/// Pushes `rows` rows starting at `first`, `per_request` per request, from `clients` clients.
async fn push(
    server: &Server,
    token: &str,
    first: usize,
    rows: usize,
    per_request: usize,
    clients: usize,
    label: &str,
) -> (f64, f64, Latencies) {
    let client = reqwest::Client::new();
    let requests: Vec<(usize, usize)> = (0..rows.div_ceil(per_request))
        .map(|r| {
            (
                first + r * per_request,
                per_request.min(rows - r * per_request),
            )
        })
        .collect();
    let queue = Arc::new(std::sync::Mutex::new(requests.into_iter()));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, queue, done, base, token) = (
            client.clone(),
            queue.clone(),
            done.clone(),
            server.base.clone(),
            token.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let Some((start, count)) = queue.lock().unwrap().next() else { break };
                let operations: Vec<Value> = (start..start + count)
                    .map(|i| json!({"op_id": format!("op-{i}"), "table": "events", "action": "insert", "data": row(i)}))
                    .collect();
                let body = json!({"device_id": format!("bench-{c}"), "operations": operations});
                let sent = Instant::now();
                let response = client.post(format!("{base}/api/v1/sync/push")).bearer_auth(&token).json(&body).send().await.unwrap();
                assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
                let _ = response.bytes().await;
                latencies.push(sent.elapsed());
                done.fetch_add(count, std::sync::atomic::Ordering::Relaxed);
            }
            latencies
        }));
    }
    let ticker = {
        let done = done.clone();
        let label = label.to_string();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let n = done.load(std::sync::atomic::Ordering::Relaxed);
                progress(&format!(
                    "{label}: {n}/{rows} rows ({:.0} rows/s)",
                    n as f64 / started.elapsed().as_secs_f64()
                ));
            }
        })
    };
    let mut latencies = Latencies::default();
    let mut requests = 0;
    for task in tasks {
        let part = task.await.unwrap();
        requests += part.len();
        latencies.0.extend(part);
    }
    ticker.abort();
    let seconds = started.elapsed().as_secs_f64();
    (rows as f64 / seconds, requests as f64 / seconds, latencies)
}

/// Reads the whole feed (`/sync/changes`, limit 1000) or pulls (`/sync/pull`, limit 5000).
async fn read_all(
    server: &Server,
    token: &str,
    pull: bool,
    expected: usize,
    label: &str,
) -> (f64, Latencies) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut cursor = String::new();
    let mut rows = 0;
    let mut latencies = Latencies::default();
    loop {
        let sent = Instant::now();
        let response = if pull {
            client
                .post(format!("{}/api/v1/sync/pull", server.base))
                .bearer_auth(token)
                .json(&json!({"limit": 5000, "cursor": cursor}))
                .send()
                .await
        } else {
            client
                .get(format!(
                    "{}/api/v1/sync/changes?limit=1000&cursor={cursor}",
                    server.base
                ))
                .bearer_auth(token)
                .send()
                .await
        };
        let body = response.unwrap().bytes().await.unwrap();
        // Checked as JSON and counted without building a tree of every row: the client's own
        // parsing is not the gateway's work (with a `Value` per row the client took as long as
        // the gateway on these two shared cores).
        let page: PageRead = serde_json::from_slice(&body).unwrap();
        latencies.0.push(sent.elapsed());
        rows += page.rows();
        cursor = page.cursor;
        let has_more = page.has_more;
        progress(&format!("{label}: {rows}/{expected} rows"));
        if !has_more {
            break;
        }
    }
    assert_eq!(
        rows, expected,
        "{label}: read {rows} rows, expected {expected}"
    );
    (rows as f64 / started.elapsed().as_secs_f64(), latencies)
}

/// With `SGBENCH_MARK` set, prints the monotonic clock at a live figure's write, to find its
/// delivery phase in a profile (`perf record -k CLOCK_MONOTONIC …`, then `perf report --time`).
fn mark_write(figure: &str) {
    if std::env::var_os("SGBENCH_MARK").is_some() {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid timespec for the call to write into.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        eprintln!("\nmark {figure} write at {}.{:09}", now.tv_sec, now.tv_nsec);
    }
}

/// A page of the changes feed or of pull, its rows checked as JSON but not kept.
#[derive(serde::Deserialize)]
struct PageRead {
    #[serde(default)]
    changes: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    data: std::collections::HashMap<String, Vec<serde::de::IgnoredAny>>,
    cursor: String,
    has_more: bool,
}

impl PageRead {
    fn rows(&self) -> usize {
        self.changes.len() + self.data.values().map(Vec::len).sum::<usize>()
    }
}

/// N devices long-poll the feed of `waiters`; one write to `writer`; time until each has it.
async fn live(
    writer: &Server,
    waiters: &Server,
    token: &str,
    devices: usize,
    next_id: usize,
) -> (usize, Latencies, String) {
    let client = reqwest::Client::new();
    // The feed position after a first write is where the devices start waiting.
    let cursor = write_one(&client, writer, token, next_id + 1_000_000_000).await;
    let source = fresh_source_address();
    let written = Arc::new(std::sync::OnceLock::<Instant>::new());
    let connected = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let wanted = Arc::new(written_id(next_id));
    let path = Arc::new(format!("/api/v1/sync/changes?wait=60&cursor={cursor}"));
    let mut tasks = Vec::new();
    for _ in 0..devices {
        let (base, token, path, written, connected, wanted) = (
            waiters.base.clone(),
            token.to_string(),
            path.clone(),
            written.clone(),
            connected.clone(),
            wanted.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let device = devices::Device::request(&base, source, &path, &token).await;
            // Counted whether or not it connected: the figure waits for every device's turn.
            connected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut device = device.ok()?;
            let got = device.wait_for(&wanted, Duration::from_secs(90)).await;
            let at = Instant::now();
            let written_at = written.get().filter(|_| got)?;
            // The connection stays open until the figure ends, as a device's would between
            // polls: closing it is work the gateway would do later, not to deliver.
            Some((at.duration_since(*written_at), device))
        }));
    }
    // Let every request reach the server and start waiting: a request written is not yet one
    // the gateway accepted (thousands of connects at once overflow its accept queue, and a
    // dropped handshake is retried only after a second or more).
    while connected.load(std::sync::atomic::Ordering::Relaxed) < devices {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while long_polls_open(&client, waiters).await < devices && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    progress(&format!("live {devices}: writing"));
    mark_write(&format!("live {devices}"));
    let cpu = CpuWindow::start(waiters);
    let _ = written.set(Instant::now());
    write_one(&client, writer, token, next_id).await;
    let mut latencies = Latencies::default();
    let mut still_open = Vec::with_capacity(devices);
    for task in tasks {
        if let Ok(Some((latency, device))) = task.await {
            latencies.0.push(latency);
            still_open.push(device);
        }
    }
    let delivered = still_open.len();
    let cpu = cpu.per_delivery(delivered);
    (delivered, latencies, cpu)
}

/// The long-polls waiting in `server`, from its `/metrics`.
async fn long_polls_open(client: &reqwest::Client, server: &Server) -> usize {
    let Ok(response) = client.get(format!("{}/metrics", server.base)).send().await else {
        return 0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("syncgate_long_polls_open "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map_or(0, |value| value as usize)
}

/// How event `id`'s key appears in an answer (quoted, so that no longer key matches).
fn written_id(id: usize) -> Vec<u8> {
    format!("\"{}\"", row(id)["id"].as_str().unwrap()).into_bytes()
}

/// Writes event `id` through the gateway; returns the feed cursor after it.
async fn write_one(client: &reqwest::Client, server: &Server, token: &str, id: usize) -> String {
    let body = json!({"device_id": "writer", "operations": [
        {"table": "events", "action": "insert", "data": row(id)}]});
    let answer: Value = client
        .post(format!("{}/api/v1/sync/push", server.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("the write failed: {answer}"))
        .to_string()
}

/// A loopback source address of its own for each live figure: the thousands of connections of
/// the figure before left their ports in TIME_WAIT for a minute, and each address has its own
/// ephemeral ports.
fn fresh_source_address() -> std::net::IpAddr {
    static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(2);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // A block of its own for each bench process too: a run just before left its ports in
    // TIME_WAIT as well.
    let block = (std::process::id() % 250) as u8 + 1;
    std::net::IpAddr::from([127, block, 1, n])
}

/// What the open-streams figure measured.
struct StreamFigure {
    delivered: usize,
    latency: Latencies,
    /// Growth of the gateway's `VmRSS` per open stream, in KB: from before the streams opened
    /// to when they all were open (and had settled).
    kb_per_stream: f64,
    /// [`CpuWindow::per_delivery`].
    cpu: String,
}

/// N devices hold a live stream open; one write; time until each stream has it.
async fn stream_figure(
    server: &Server,
    token: &str,
    streams: usize,
    next_id: usize,
) -> StreamFigure {
    let client = reqwest::Client::new();
    let cursor = write_one(&client, server, token, next_id + 2_000_000_000).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = server.rss_kb();
    let source = fresh_source_address();
    let written = Arc::new(std::sync::OnceLock::<Instant>::new());
    let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let wanted = Arc::new(written_id(next_id));
    let path = Arc::new(format!("/api/v1/sync/stream?cursor={cursor}&tables=events"));
    // Each stream reports when it has the change, then stays open until every stream has it, as
    // a device's stream would: streams closing as they deliver took a third of the gateway's CPU
    // in the delivery window (closing connections), which open streams do not cost.
    let (report, mut reports) = tokio::sync::mpsc::unbounded_channel::<Option<Duration>>();
    let (release, released) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let (base, token, path, written, opened, wanted, report, mut released) = (
            server.base.clone(),
            token.to_string(),
            path.clone(),
            written.clone(),
            opened.clone(),
            wanted.clone(),
            report.clone(),
            released.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // Open once the answer's head has come: the gateway holds the stream.
            let mut device = devices::Device::request(&base, source, &path, &token)
                .await
                .ok();
            if let Some(open) = &mut device
                && !open.wait_for(b"\r\n\r\n", Duration::from_secs(60)).await
            {
                device = None;
            }
            opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(mut device) = device else {
                let _ = report.send(None);
                return;
            };
            let got = device.wait_for(&wanted, Duration::from_secs(90)).await;
            let at = Instant::now();
            let latency = written
                .get()
                .filter(|_| got)
                .map(|written| at.duration_since(*written));
            let _ = report.send(latency);
            let _ = released.wait_for(|released| *released).await;
            drop(device);
        }));
    }
    drop(report);
    while opened.load(std::sync::atomic::Ordering::Relaxed) < streams {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kb_per_stream = (server.rss_kb() - rss_before) / streams as f64;
    progress(&format!("streams {streams}: writing"));
    mark_write(&format!("streams {streams}"));
    let cpu = CpuWindow::start(server);
    let _ = written.set(Instant::now());
    write_one(&client, server, token, next_id).await;
    let mut latencies = Latencies::default();
    let mut delivered = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for _ in 0..streams {
        match tokio::time::timeout_at(deadline, reports.recv()).await {
            Ok(Some(Some(latency))) => {
                delivered += 1;
                latencies.0.push(latency);
            }
            Ok(Some(None)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let cpu = cpu.per_delivery(delivered);
    let _ = release.send(true);
    for task in tasks {
        let _ = task.await;
    }
    StreamFigure {
        delivered,
        latency: latencies,
        kb_per_stream,
        cpu,
    }
}

/// The raw baseline on SQLite: what the gateway writes per row (the row with its version, feed
/// position and change time, and the op id record), in transactions of `per_request` rows, with
/// prepared statements, 4 threads taking turns like the gateway's writers. They queue for their
/// turn in the process (a mutex held for the whole transaction), not in SQLite's busy handler,
/// which sleeps milliseconds at a time and made this baseline swing several-fold between runs.
///
/// With `op_records` each row also records its op id, as the bench's own client's pushes carry
/// one; wrk's pushes carry none, and their baseline writes none.
fn sqlite_baseline(
    dir: &std::path::Path,
    rows: usize,
    per_request: usize,
    op_records: bool,
) -> f64 {
    let path = match op_records {
        true => dir.join(format!("baseline-{per_request}.db")),
        false => dir.join(format!("baseline-no-ops-{per_request}.db")),
    };
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE events (id TEXT NOT NULL PRIMARY KEY, branch_id INTEGER, device TEXT, kind TEXT, amount TEXT,
           created_at TEXT, _sg_version INTEGER NOT NULL, _sg_seq INTEGER NOT NULL, _sg_deleted BOOLEAN NOT NULL,
           _sg_changed_at INTEGER NOT NULL);
         CREATE INDEX events_seq ON events (_sg_seq);
         CREATE TABLE ops (device_id TEXT NOT NULL, op_id TEXT NOT NULL, result TEXT NOT NULL, created_at TEXT NOT NULL,
           PRIMARY KEY (device_id, op_id));
         CREATE TABLE seq (name TEXT PRIMARY KEY, value INTEGER); INSERT INTO seq VALUES ('feed', 0);",
    ).unwrap();
    drop(connection);
    let started = Instant::now();
    let next = Arc::new(std::sync::Mutex::new(0usize));
    let turn = Arc::new(std::sync::Mutex::new(()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (path, next, turn) = (path.clone(), next.clone(), turn.clone());
            std::thread::spawn(move || {
                let mut connection = rusqlite::Connection::open(&path).unwrap();
                connection.busy_timeout(Duration::from_secs(30)).unwrap();
                let device_id = format!("bench-{t}");
                loop {
                    let start = {
                        let mut next = next.lock().unwrap();
                        if *next >= rows {
                            break;
                        }
                        let start = *next;
                        *next += per_request;
                        start
                    };
                    // The rows' values are made before the turn, as the gateway makes them
                    // before its write turn: only the statements are serialised.
                    let batch: Vec<_> = (start..(start + per_request).min(rows))
                        .map(|i| {
                            let r = row(i);
                            let text = |name: &str| r[name].as_str().unwrap().to_string();
                            let values = (
                                text("id"),
                                r["branch_id"].as_i64(),
                                text("device"),
                                text("kind"),
                                text("amount"),
                                text("created_at"),
                            );
                            (values, op_records.then(|| format!("op-{i}")))
                        })
                        .collect();
                    let _turn = turn.lock().unwrap();
                    let txn = connection
                        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                        .unwrap();
                    {
                        let mut seq: i64 = txn
                            .query_row("SELECT value FROM seq WHERE name = 'feed'", [], |r| {
                                r.get(0)
                            })
                            .unwrap();
                        let mut insert = txn
                            .prepare_cached(
                                "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, 0, ?8)",
                            )
                            .unwrap();
                        let mut op = txn
                            .prepare_cached("INSERT INTO ops VALUES (?1, ?2, ?3, ?4)")
                            .unwrap();
                        for ((id, branch, device, kind, amount, created), op_id) in &batch {
                            seq += 1;
                            insert
                                .execute(rusqlite::params![
                                    id, branch, device, kind, amount, created, seq, 0
                                ])
                                .unwrap();
                            if let Some(op_id) = op_id {
                                op.execute(rusqlite::params![device_id, op_id, "{}", "now"])
                                    .unwrap();
                            }
                        }
                        txn.execute("UPDATE seq SET value = ?1 WHERE name = 'feed'", [seq])
                            .unwrap();
                    }
                    txn.commit().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    rows as f64 / started.elapsed().as_secs_f64()
}

/// A page as JSON: typed rows serialised directly, or (`tree`) through a `serde_json::Value`
/// per row first, as the baseline of the earlier runs did.
fn write_page(entries: &[BaselineEntry], tree: bool) {
    let bytes = if tree {
        let values: Vec<Value> = entries
            .iter()
            .map(|entry| serde_json::to_value(entry).unwrap())
            .collect();
        serde_json::to_vec(&values)
    } else {
        serde_json::to_vec(entries)
    };
    std::hint::black_box(bytes.unwrap());
}

/// A row as the read baselines write it: typed, serialised straight to JSON (no tree of values).
#[derive(serde::Serialize)]
struct BaselineRow {
    id: String,
    branch_id: i64,
    device: String,
    kind: String,
    amount: String,
    created_at: String,
    _version: i64,
}

/// A row alone (pull) or in the feed's change envelope.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum BaselineEntry {
    Row(BaselineRow),
    Change {
        seq: i64,
        table: &'static str,
        key: String,
        version: i64,
        deleted: bool,
        row: BaselineRow,
    },
}

impl BaselineEntry {
    fn new(changes: bool, seq: i64, deleted: bool, row: BaselineRow) -> Self {
        if !changes {
            return Self::Row(row);
        }
        Self::Change {
            seq,
            table: "events",
            key: row.id.clone(),
            version: row._version,
            deleted,
            row,
        }
    }
}

/// The raw read baseline on SQLite: every row in feed order, in pages, as JSON: the rows alone
/// (as pull answers them) or, with `changes`, each in the feed's change envelope.
fn sqlite_read_baseline(path: &std::path::Path, page: usize, changes: bool, tree: bool) -> f64 {
    let connection = rusqlite::Connection::open(path).unwrap();
    let started = Instant::now();
    let mut after = 0i64;
    let mut rows = 0usize;
    let mut statement = connection
        .prepare("SELECT id, branch_id, device, kind, amount, created_at, _sg_version, _sg_seq, _sg_deleted FROM events WHERE _sg_seq > ?1 ORDER BY _sg_seq LIMIT ?2")
        .unwrap();
    loop {
        let mut out = Vec::with_capacity(page);
        let mut last = after;
        let mut query = statement
            .query(rusqlite::params![after, page as i64])
            .unwrap();
        while let Some(r) = query.next().unwrap() {
            last = r.get(7).unwrap();
            let row = BaselineRow {
                id: r.get(0).unwrap(),
                branch_id: r.get(1).unwrap(),
                device: r.get(2).unwrap(),
                kind: r.get(3).unwrap(),
                amount: r.get(4).unwrap(),
                created_at: r.get(5).unwrap(),
                _version: r.get(6).unwrap(),
            };
            out.push(BaselineEntry::new(changes, last, r.get(8).unwrap(), row));
        }
        if out.is_empty() {
            break;
        }
        rows += out.len();
        write_page(&out, tree);
        after = last;
    }
    rows as f64 / started.elapsed().as_secs_f64()
}

/// The raw baseline on PostgreSQL: the same writes as multi-row INSERTs in transactions.
/// The raw write baseline on PostgreSQL: `rows` rows after `prefill` rows already in the table
/// (written first, untimed), `per_request` per transaction, from 4 connections.
async fn postgres_baseline(url: &str, prefill: usize, rows: usize, per_request: usize) -> f64 {
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(url).await.unwrap();
    db.execute_unprepared(
        "CREATE TABLE events (id TEXT NOT NULL PRIMARY KEY, branch_id BIGINT, device TEXT, kind TEXT, amount NUMERIC,
           created_at TIMESTAMPTZ, _sg_version BIGINT NOT NULL, _sg_seq BIGINT NOT NULL, _sg_deleted BOOLEAN NOT NULL,
           _sg_changed_at BIGINT NOT NULL);
         CREATE INDEX events_seq ON events (_sg_seq);
         CREATE TABLE ops (device_id TEXT NOT NULL, op_id TEXT NOT NULL, result TEXT NOT NULL, created_at TEXT NOT NULL,
           PRIMARY KEY (device_id, op_id));
         CREATE TABLE seq (name TEXT PRIMARY KEY, value BIGINT); INSERT INTO seq VALUES ('feed', 0);",
    ).await.unwrap();
    if prefill > 0 {
        postgres_baseline_writes(&db, 0, prefill, 5000).await;
    }
    let started = Instant::now();
    postgres_baseline_writes(&db, prefill, prefill + rows, per_request).await;
    rows as f64 / started.elapsed().as_secs_f64()
}

/// Writes rows `first..end` as the gateway would, `per_request` per transaction, from 4 tasks.
async fn postgres_baseline_writes(
    db: &sea_orm::DatabaseConnection,
    first: usize,
    rows: usize,
    per_request: usize,
) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let next = Arc::new(std::sync::Mutex::new(first));
    let mut tasks = Vec::new();
    for t in 0..4 {
        let (db, next) = (db.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let start = {
                    let mut next = next.lock().unwrap();
                    if *next >= rows {
                        break;
                    }
                    let start = *next;
                    *next += per_request;
                    start
                };
                let end = (start + per_request).min(rows);
                let txn = db.begin().await.unwrap();
                let seq: i64 = txn
                    .query_one_raw(sea_orm::Statement::from_string(
                        sea_orm::DbBackend::Postgres,
                        "UPDATE seq SET value = value + 0 WHERE name = 'feed' RETURNING value",
                    ))
                    .await
                    .unwrap()
                    .unwrap()
                    .try_get("", "value")
                    .unwrap();
                let mut values = Vec::new();
                let mut ops = Vec::new();
                for (n, i) in (start..end).enumerate() {
                    let r = row(i);
                    values.push(format!(
                        "('{}', {}, '{}', '{}', {}, '{}', 1, {}, false, 0)",
                        r["id"].as_str().unwrap(),
                        r["branch_id"],
                        r["device"].as_str().unwrap(),
                        r["kind"].as_str().unwrap(),
                        r["amount"].as_str().unwrap(),
                        r["created_at"].as_str().unwrap(),
                        seq + n as i64 + 1
                    ));
                    ops.push(format!("('bench-{t}', 'op-{i}', '{{}}', 'now')"));
                }
                txn.execute_unprepared(&format!("INSERT INTO events VALUES {}", values.join(",")))
                    .await
                    .unwrap();
                txn.execute_unprepared(&format!("INSERT INTO ops VALUES {}", ops.join(",")))
                    .await
                    .unwrap();
                txn.execute_unprepared(&format!(
                    "UPDATE seq SET value = {} WHERE name = 'feed'",
                    seq + (end - start) as i64
                ))
                .await
                .unwrap();
                txn.commit().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// The raw read baseline on PostgreSQL: every row of `events` in feed order, in pages, as JSON
/// (with `changes`, each in the feed's change envelope).
async fn postgres_read_baseline(url: &str, page: usize, changes: bool, tree: bool) -> f64 {
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(url).await.unwrap();
    let started = Instant::now();
    let mut after = 0i64;
    let mut rows = 0usize;
    loop {
        let statement = sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT id, branch_id, device, kind, CAST(amount AS TEXT) AS amount, created_at, _sg_version, _sg_seq, _sg_deleted \
             FROM events WHERE _sg_seq > $1 ORDER BY _sg_seq LIMIT $2",
            [after.into(), (page as i64).into()],
        );
        let results = db.query_all_raw(statement).await.unwrap();
        if results.is_empty() {
            break;
        }
        let mut out = Vec::with_capacity(results.len());
        for r in &results {
            let created: chrono::DateTime<chrono::Utc> = r.try_get("", "created_at").unwrap();
            after = r.try_get("", "_sg_seq").unwrap();
            let row = BaselineRow {
                id: r.try_get("", "id").unwrap(),
                branch_id: r.try_get("", "branch_id").unwrap(),
                device: r.try_get("", "device").unwrap(),
                kind: r.try_get("", "kind").unwrap(),
                amount: r.try_get("", "amount").unwrap(),
                created_at: created.to_rfc3339(),
                _version: r.try_get("", "_sg_version").unwrap(),
            };
            let deleted = r.try_get("", "_sg_deleted").unwrap();
            out.push(BaselineEntry::new(changes, after, deleted, row));
        }
        rows += out.len();
        write_page(&out, tree);
    }
    rows as f64 / started.elapsed().as_secs_f64()
}

/// The live baseline: `devices` tasks in this process woken by one `watch` send, with no HTTP
/// and no database — the floor of change-to-delivery latency on this machine.
async fn live_baseline(devices: usize) -> Latencies {
    let (sender, _) = tokio::sync::watch::channel(0u64);
    let sent = Arc::new(std::sync::OnceLock::<Instant>::new());
    let tasks: Vec<_> = (0..devices)
        .map(|_| {
            let mut receiver = sender.subscribe();
            let sent = sent.clone();
            tokio::spawn(async move {
                receiver.changed().await.ok()?;
                Some(Instant::now().duration_since(*sent.get()?))
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = sent.set(Instant::now());
    sender.send_replace(1);
    let mut latencies = Latencies::default();
    for task in tasks {
        if let Ok(Some(latency)) = task.await {
            latencies.0.push(latency);
        }
    }
    latencies
}

/// The PostgreSQL database of the gateway the main figures measure.
const GATEWAY_DATABASE: &str = "sgbench_gateway";

async fn postgres_database(admin: &str, name: &str) -> String {
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(admin)
        .await
        .expect("connect to the PostgreSQL admin URL");
    db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

fn line(name: &str, figure: String, baseline: Option<f64>, value: f64) {
    let ratio = baseline.map_or("baseline: n/a".to_string(), |b| {
        format!("baseline {b:.0}/s, gateway/baseline {:.2}", value / b)
    });
    eprintln!("\r\x1b[2K  {name:<34} {figure}  [{ratio}]");
}

/// The read baselines of the gateway's own table, in pages of `page`: a `Value` tree per row
/// (the baseline the read targets were set against) and typed rows serialised directly.
async fn read_baselines(
    postgres: &Option<String>,
    database_url: &str,
    page: usize,
    changes: bool,
) -> (f64, f64) {
    let mut both = [0.0; 2];
    for (slot, tree) in both.iter_mut().zip([true, false]) {
        *slot = match postgres {
            None => sqlite_read_baseline(
                std::path::Path::new(database_url.trim_start_matches("sqlite://")),
                page,
                changes,
                tree,
            ),
            Some(_) => postgres_read_baseline(database_url, page, changes, tree).await,
        };
    }
    (both[0], both[1])
}

fn read_line(name: &str, figure: String, (tree, typed): (f64, f64), value: f64) {
    eprintln!(
        "\r\x1b[2K  {name:<34} {figure}  [baseline {tree:.0}/s, gateway/baseline {:.2}; typed baseline {typed:.0}/s, gateway/typed {:.2}]",
        value / tree,
        value / typed
    );
}

async fn run(backend: &str, database_url: String, baseline_pg: Option<String>, args: &Args) {
    let dir = tempfile::tempdir().unwrap();
    eprintln!("\n== {backend} ==");
    let server = start_server(dir.path(), &database_url).await;
    let token = token();
    let mut next = 0;
    if args.live_only {
        live_figures(&server, &token, &database_url, dir.path(), next, args).await;
        return;
    }
    if args.moves_only {
        move_figures::run(&server, args.moved_rows, args.children).await;
        return;
    }
    if args.external_only {
        external_figures::run(&server, &token, &database_url, baseline_pg.as_deref(), args).await;
        return;
    }
    // The read figures read what the 500-row push wrote (and its baseline's database).
    let push_sizes: &[usize] = if args.reads_only { &[500] } else { &[100, 500] };
    let mut baselines = std::collections::HashMap::new();
    for &per_request in push_sizes {
        let label = format!("push 4 clients × {per_request} rows/request");
        let (rows_s, req_s, mut latency) = push(
            &server,
            &token,
            next,
            args.push_rows,
            per_request,
            4,
            &label,
        )
        .await;
        next += args.push_rows;
        let baseline = match &baseline_pg {
            None => sqlite_baseline(dir.path(), args.push_rows, per_request, true),
            Some(url) => {
                postgres_baseline(
                    &postgres_database(url, &format!("sgbench_base_{per_request}")).await,
                    0,
                    args.push_rows,
                    per_request,
                )
                .await
            }
        };
        push_line(&label, rows_s, req_s, &mut latency, baseline);
        baselines.insert(per_request, baseline);
    }
    if !args.reads_only {
        // The same pushes from an external client, each into a fresh gateway and table.
        let fresh = |per_request: usize| {
            let (dir, admin) = (dir.path().to_path_buf(), baseline_pg.clone());
            async move {
                match admin {
                    None => format!(
                        "sqlite://{}",
                        dir.join(format!("wrk-{per_request}/gateway.db")).display()
                    ),
                    Some(admin) => {
                        postgres_database(&admin, &format!("sgbench_wrk_{per_request}")).await
                    }
                }
            }
        };
        // On SQLite wrk's figure has a baseline of its own, measured right after it: as many
        // rows as wrk wrote, without op records (wrk's pushes carry no op ids). The baseline of
        // the bench's own pushes writes 20,000 rows, a tenth of a second, too short to hold
        // still, and records an op id per row, work wrk's pushes do not ask for.
        let sqlite_dir = dir.path().to_path_buf();
        let sqlite = baseline_pg.is_none();
        wrk_figures::run(
            dir.path(),
            fresh,
            |per_request, rows| match sqlite {
                true => Some(sqlite_baseline(&sqlite_dir, rows, per_request, false)),
                false => baselines.get(&per_request).copied(),
            },
            baseline_pg.as_deref(),
        )
        .await;
    }
    if args.push_only {
        if let Some(admin) = &baseline_pg {
            grown_table_pushes(&server, dir.path(), &token, admin, next, args).await;
        }
        return;
    }
    if let Some(admin) = baseline_pg.as_ref().filter(|_| !args.reads_only) {
        next = grown_table_pushes(&server, dir.path(), &token, admin, next, args).await;
    }
    let to_load = args.bootstrap_rows.saturating_sub(next);
    let (load_s, _, _) = push(
        &server,
        &token,
        next,
        to_load,
        5000,
        4,
        "loading the bootstrap rows",
    )
    .await;
    eprintln!(
        "\r\x1b[2K  (loaded {to_load} more rows at {load_s:.0} rows/s, 4 clients × 5000 rows/request)"
    );
    next += to_load;
    let started = Instant::now();
    let (rows_s, mut latency) =
        read_all(&server, &token, true, next, "bootstrap (pull, limit 5000)").await;
    let seconds = started.elapsed().as_secs_f64();
    let baselines = read_baselines(&baseline_pg, &database_url, 5000, false).await;
    read_line(
        &format!("bootstrap {next} rows to 1 device"),
        format!(
            "{rows_s:>9.0} rows/s in {seconds:.1} s  {}",
            latency.summary()
        ),
        baselines,
        rows_s,
    );

    // The whole table again through the feed: long enough (1,000 pages) to be measured.
    let (rows_s, mut latency) = read_all(
        &server,
        &token,
        false,
        next,
        "changes feed, 1 client, limit 1000",
    )
    .await;
    let baselines = read_baselines(&baseline_pg, &database_url, 1000, true).await;
    read_line(
        &format!("changes feed, {next} rows, 1 client, limit 1000"),
        format!("{rows_s:>9.0} rows/s  {}", latency.summary()),
        baselines,
        rows_s,
    );

    // After the read figures, which count every row of the feed.
    move_figures::run(&server, args.moved_rows, args.children).await;

    if !args.reads_only {
        live_figures(&server, &token, &database_url, dir.path(), next, args).await;
        external_figures::run(&server, &token, &database_url, baseline_pg.as_deref(), args).await;
    }
}

/// Long-polls, streams and (PostgreSQL) a second replica, each woken by one write.
async fn live_figures(
    server: &Server,
    token: &str,
    database_url: &str,
    dir: &std::path::Path,
    mut next: usize,
    args: &Args,
) {
    let p99 = |l: &mut Latencies| {
        l.0.sort();
        l.0.get((l.0.len() * 99 / 100).min(l.0.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    for &devices in &args.live {
        let (delivered, mut latency, cpu) = live(server, server, token, devices, next).await;
        next += 1;
        let mut floor = live_baseline(devices).await;
        let (gateway_p99, floor_p99) = (p99(&mut latency), p99(&mut floor));
        eprintln!(
            "\r\x1b[2K  {:<34} {delivered}/{devices} delivered, {}  [baseline (in-process broadcast) p99 {floor_p99:.2} ms, gateway/baseline p99 {:.0}]; {cpu}",
            format!("live: {devices} long-polling devices"),
            latency.summary(),
            gateway_p99 / floor_p99.max(0.001)
        );
    }
    if database_url.starts_with("postgres") && args.cross > 0 {
        // A second replica on the same database; the devices wait on it, the write goes to the
        // first. Before the streams: closing thousands of streams kept both processes busy.
        let replica = start_server(&dir.join("replica"), database_url).await;
        let (delivered, mut latency, _) = live(server, &replica, token, args.cross, next).await;
        next += 1;
        eprintln!(
            "\r\x1b[2K  {:<34} {delivered}/{} delivered, {} (sync.poll_interval 1 s; LISTEN/NOTIFY wakes them)",
            format!("live: {} long-polls on replica B", args.cross),
            args.cross,
            latency.summary()
        );
        let _ = p99(&mut latency);
    }
    for &streams in &args.streams {
        // A gateway of its own, so that the memory the streams take is not memory the
        // long-polls before them freed (the allocator keeps it for reuse).
        let server = start_server(&dir.join(format!("streams-{streams}")), database_url).await;
        let StreamFigure {
            delivered,
            mut latency,
            kb_per_stream,
            cpu,
        } = stream_figure(&server, token, streams, next).await;
        next += 1;
        let mut floor = live_baseline(streams).await;
        let (gateway_p99, floor_p99) = (p99(&mut latency), p99(&mut floor));
        eprintln!(
            "\r\x1b[2K  {:<34} {delivered}/{streams} delivered, {}  [baseline (in-process broadcast) p99 {floor_p99:.2} ms, gateway/baseline p99 {:.0}]; server memory {kb_per_stream:.1} KB per open stream (VmRSS growth), peak {:.0} MB; {cpu}",
            format!("live: {streams} open streams"),
            latency.summary(),
            gateway_p99 / floor_p99.max(0.001),
            server.peak_rss_mb()
        );
    }
    eprintln!(
        "  server peak memory (VmHWM): {:.0} MB",
        server.peak_rss_mb()
    );
}

/// PostgreSQL: the table grown to `args.grown_rows` rows, then the same pushes, each beside a
/// baseline table holding as many rows, from the bench's client and from wrk. Returns the next
/// row number.
async fn grown_table_pushes(
    server: &Server,
    dir: &std::path::Path,
    token: &str,
    admin: &str,
    mut next: usize,
    args: &Args,
) -> usize {
    let counter = wrk_figures::StatementCounter::new(admin).await;
    let mut baselines = Vec::new();
    let to_load = args.grown_rows.saturating_sub(next);
    push(server, token, next, to_load, 5000, 4, "growing the table").await;
    next += to_load;
    for per_request in [100, 500] {
        let label = format!(
            "push 4 clients × {per_request} rows/request, table of {} rows",
            args.grown_rows
        );
        let (rows_s, req_s, mut latency) =
            push(server, token, next, args.push_rows, per_request, 4, &label).await;
        next += args.push_rows;
        let baseline = postgres_baseline(
            &postgres_database(admin, &format!("sgbench_grown_{per_request}")).await,
            args.grown_rows,
            args.push_rows,
            per_request,
        )
        .await;
        push_line(&label, rows_s, req_s, &mut latency, baseline);
        baselines.push(baseline);
    }
    // The same from wrk, into a gateway of its own whose table holds as many rows (the rows wrk
    // writes would change what the later figures read).
    let wrk_dir = dir.join("wrk-grown");
    let wrk_server = start_server(
        &wrk_dir,
        &postgres_database(admin, "sgbench_wrk_grown").await,
    )
    .await;
    push(
        &wrk_server,
        token,
        0,
        args.grown_rows,
        5000,
        4,
        "growing wrk's table",
    )
    .await;
    for (per_request, baseline) in [100, 500].into_iter().zip(baselines) {
        wrk_figures::figure(
            &wrk_server,
            &wrk_dir,
            &format!(
                "push wrk 4 conn × {per_request} rows (external), table of {}+ rows",
                args.grown_rows
            ),
            per_request,
            &format!("g{per_request}"),
            |_| Some(baseline),
            counter
                .as_ref()
                .map(|counter| (counter, "sgbench_wrk_grown")),
        )
        .await;
    }
    next
}

/// Prints one push figure beside its baseline.
fn push_line(label: &str, rows_s: f64, req_s: f64, latency: &mut Latencies, baseline: f64) {
    line(
        label,
        format!(
            "{rows_s:>9.0} rows/s {req_s:>7.0} req/s  {}",
            latency.summary()
        ),
        Some(baseline),
        rows_s,
    );
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        eprintln!(
            "syncgate benchmark: {} push rows, {} bootstrap rows, live {:?}",
            args.push_rows, args.bootstrap_rows, args.live
        );
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!("sqlite://{}", dir.path().join("gateway.db").display());
        run("SQLite", sqlite, None, &args).await;
        if let Some(admin) = &args.postgres {
            let url = postgres_database(admin, GATEWAY_DATABASE).await;
            run("PostgreSQL", url, Some(admin.clone()), &args).await;
        }
    });
}
