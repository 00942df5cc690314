//! Push figures driven by an external load generator users have: `wrk` (a C client, Debian's
//! package; `scripts/bench` installs it) with a Lua body generator, 4 connections on 2 threads
//! for 8 s, each request a push of unique rows, into a fresh gateway per figure (an empty
//! table). Beside the rows/s and wrk's latency percentiles: the gateway's CPU during the run
//! (user + system time of its process over the wall time, in cores), and on PostgreSQL the
//! statements the gateway ran per push (`pg_stat_statements`, which `scripts/bench` preloads;
//! BEGIN and COMMIT count), each a round trip.

use super::{SECRET, Server, line, start_server, token};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SECONDS: u64 = 8;
const CONNECTIONS: usize = 4;

/// One figure: rows/s, request latency percentiles (ms), gateway cores used.
pub struct WrkFigure {
    pub rows_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub cores: f64,
    pub errors: u64,
    /// Requests wrk completed.
    pub requests: u64,
}

/// The Lua script: every request a push of `rows` new rows, unique per `prefix`, thread and
/// request.
fn script(rows: usize, token: &str, prefix: &str) -> String {
    format!(
        r#"-- syncgate benchmark: pushes of {rows} unique rows per request.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  local ops = {{}}
  for i = 1, {rows} do
    local id = string.format("{prefix}-%d-%d-%d", tid, n, i)
    ops[i] = '{{"table":"events","action":"insert","data":{{"id":"' .. id ..
      '","branch_id":' .. (i % 20) .. ',"device":"till-' .. (i % 7) ..
      '","kind":"sale","amount":"12.50","created_at":"2026-11-22T10:00:00Z"}}}}'
  end
  local body = '{{"device_id":"wrk-' .. tid .. '","operations":[' .. table.concat(ops, ",") .. ']}}'
  return wrk.format("POST", "/api/v1/sync/push",
    {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {token}"}}, body)
end
"#
    )
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A wrk latency figure in ms ("1.23ms", "450.00us", "1.02s").
fn millis(text: &str) -> f64 {
    let number = |suffix: &str| text.trim_end_matches(suffix).parse::<f64>().unwrap_or(0.0);
    if text.ends_with("us") {
        number("us") / 1000.0
    } else if text.ends_with("ms") {
        number("ms")
    } else if text.ends_with('s') {
        number("s") * 1000.0
    } else {
        0.0
    }
}

/// Runs wrk against `server`, its rows' keys starting with `prefix`; `None` when wrk is not
/// installed.
pub fn measure(server: &Server, dir: &Path, rows: usize, prefix: &str) -> Option<WrkFigure> {
    let script_path = dir.join(format!("push-{prefix}-{rows}.lua"));
    std::fs::write(&script_path, script(rows, &token(), prefix)).unwrap();
    let pid = server.child.id();
    let (cpu_before, started) = (cpu_seconds(pid), Instant::now());
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{CONNECTIONS}"),
            &format!("-d{SECONDS}s"),
            "--timeout",
            "10s",
            "--latency",
            "-s",
        ])
        .arg(&script_path)
        .arg(&server.base)
        .output()
        .ok()?;
    let cores = (cpu_seconds(pid) - cpu_before) / started.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let value_after = |label: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(label))
            .and_then(|l| l[label.len()..].split_whitespace().next().map(String::from))
    };
    let requests_s: f64 = value_after("Requests/sec:")?.parse().ok()?;
    let errors = value_after("Non-2xx or 3xx responses:")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // "  12345 requests in 8.00s, 1.23MB read"
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Some(WrkFigure {
        rows_s: requests_s * rows as f64,
        p50_ms: value_after("50%").map_or(0.0, |t| millis(&t)),
        p99_ms: value_after("99%").map_or(0.0, |t| millis(&t)),
        cores,
        errors,
        requests,
    })
}

/// Counts the statements PostgreSQL runs (`pg_stat_statements`); `None` when the extension is
/// not loaded (a server started without `shared_preload_libraries`).
pub struct StatementCounter {
    db: sea_orm::DatabaseConnection,
}

impl StatementCounter {
    pub async fn new(admin: &str) -> Option<Self> {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(admin).await.ok()?;
        db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await
            .ok()?;
        Some(Self { db })
    }

    pub async fn reset(&self) {
        use sea_orm::ConnectionTrait;
        let _ = self
            .db
            .execute_unprepared("SELECT pg_stat_statements_reset()")
            .await;
    }

    /// Statements run in `database` since the last reset.
    pub async fn calls(&self, database: &str) -> Option<i64> {
        use sea_orm::{ConnectionTrait, Statement};
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT coalesce(sum(calls), 0)::bigint AS calls FROM pg_stat_statements \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)",
                [database.into()],
            ))
            .await
            .ok()??;
        row.try_get("", "calls").ok()
    }
}

/// Measures one figure and prints it beside `baseline`; on PostgreSQL (`counter` and the
/// gateway's `database`), with the statements per push.
pub async fn figure(
    server: &Server,
    dir: &Path,
    label: &str,
    rows: usize,
    prefix: &str,
    baseline: impl FnOnce(usize) -> Option<f64>,
    counted: Option<(&StatementCounter, &str)>,
) {
    if let Some((counter, _)) = counted {
        counter.reset().await;
    }
    let Some(figure) = measure(server, dir, rows, prefix) else {
        eprintln!("  wrk gave no figure for {rows} rows/request");
        return;
    };
    let mut statements = String::new();
    if let Some((counter, database)) = counted
        && let Some(calls) = counter.calls(database).await
        && figure.requests > 0
    {
        statements = format!(
            ", {:.1} statements/push",
            calls as f64 / figure.requests as f64
        );
    }
    let written = (figure.requests.saturating_sub(figure.errors)) as usize * rows;
    let baseline = baseline(written);
    line(
        label,
        format!(
            "{:>9.0} rows/s  p50 {:.1} ms, p99 {:.1} ms, gateway CPU {:.2} cores{statements}{}",
            figure.rows_s,
            figure.p50_ms,
            figure.p99_ms,
            figure.cores,
            if figure.errors > 0 {
                format!(", {} non-2xx", figure.errors)
            } else {
                String::new()
            }
        ),
        baseline,
        figure.rows_s,
    );
}

/// The figures at 4 × 100 and 4 × 500 rows per request, each into a fresh gateway on
/// `database_url(per_request)`, printed beside `baseline(per_request, rows wrk wrote)`; on
/// PostgreSQL (`admin`) with the statements per push.
pub async fn run<F, Fut, B>(dir: &Path, database_url: F, baseline: B, admin: Option<&str>)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = String>,
    B: Fn(usize, usize) -> Option<f64>,
{
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("  wrk is not installed: no external-client figures (scripts/bench installs it)");
        return;
    }
    let _ = SECRET;
    let counter = match admin {
        Some(admin) => StatementCounter::new(admin).await,
        None => None,
    };
    for per_request in [100, 500] {
        let figure_dir = dir.join(format!("wrk-{per_request}"));
        let url = database_url(per_request).await;
        let server = start_server(&figure_dir, &url).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let database = url.rsplit('/').next().unwrap_or_default().to_string();
        figure(
            &server,
            &figure_dir,
            &format!("push wrk {CONNECTIONS} conn × {per_request} rows (external)"),
            per_request,
            &format!("w{per_request}"),
            |written| baseline(per_request, written),
            counter.as_ref().map(|counter| (counter, database.as_str())),
        )
        .await;
    }
}
