//! What ops see: `/metrics` moving as the server works (push, conflict, a failing drain,
//! reloads), the metrics token and separate listener, the request log and `X-Request-Id`, CORS
//! for a browser app on another origin, and `/health` reporting a failed reload — on every
//! backend.

mod common;

use common::process::free_port;

use common::{API, Sandbox, TestServer, admin, backends, binary, clerk};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use syncgate::config::{Secret, UpstreamConfig};

/// The value of the sample of `name` whose labels include `labels` (0 when there is none).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            (metric == name
                && labels
                    .iter()
                    .all(|(key, value)| rest.contains(&format!("{key}=\"{value}\""))))
            .then(|| value.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

async fn scrape(server: &TestServer) -> String {
    let response = server.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    response.text().await.unwrap()
}

/// Waits until `check` holds for a scrape, and returns that scrape.
async fn scrape_until(server: &TestServer, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(server).await;
        if check(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "{what} within 20 s:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An edge whose hub does not answer (nothing listens on its port): every write waits in the
/// outbox and every drain fails. The drain runs every second.
///
/// The port is 9 (discard), below the ephemeral range: a free port picked at random could be
/// taken by a server another test starts meanwhile, which then answered the drain (401) and
/// counted a request of its own (seen once, with two tests of this file running together).
fn unreachable_edge(sandbox: &Sandbox) -> syncgate::config::Config {
    let dead_port = 9;
    let mut config = sandbox.config();
    config.upstream = Some(UpstreamConfig {
        url: format!("http://127.0.0.1:{dead_port}{API}")
            .parse()
            .unwrap(),
        token: Secret::new("unused"),
        device_id: "edge-1".into(),
        probe_interval: Duration::from_millis(200),
        timeout: Duration::from_secs(1),
    });
    config.jobs.drain.schedule = "* * * * * *".into();
    config
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_move_as_the_server_works() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
        let server = TestServer::start(unreachable_edge(&sandbox)).await;
        let before = scrape(&server).await;
        let applied = [("table", "t_manual"), ("outcome", "applied")];
        let conflict = [("table", "t_manual"), ("outcome", "conflict")];
        let replayed = [("table", "t_manual"), ("outcome", "replayed")];

        // Two writes, a replay of the first, and a stale update: a queued conflict.
        let insert = json!([{"op_id": "op-1", "table": "t_manual", "action": "insert",
            "data": {"id": "a", "body": "first"}}]);
        assert_eq!(
            server.push(&clerk(1), "d1", true, insert.clone()).await.0,
            200
        );
        assert_eq!(server.push(&clerk(1), "d1", true, insert).await.0, 200);
        let update = json!([{"table": "t_manual", "action": "update",
            "data": {"id": "a", "body": "second"}}]);
        assert_eq!(server.push(&clerk(1), "d2", true, update).await.0, 200);
        let stale = json!([{"table": "t_manual", "action": "update",
            "data": {"id": "a", "body": "stale"}, "base_version": 1}]);
        let (status, body) = server.push(&clerk(1), "d1", true, stale).await;
        assert_eq!(
            (status, body["conflicts"].as_array().map(Vec::len)),
            (200, Some(1))
        );
        let (status, _) = server
            .get_as(&clerk(1), &format!("{API}/sync/changes"))
            .await;
        assert_eq!(status, 200);

        let after = scrape(&server).await;
        let moved = |name: &str, labels: &[(&str, &str)]| {
            sample(&after, name, labels) - sample(&before, name, labels)
        };
        assert_eq!(
            moved("syncgate_push_operations_total", &applied),
            2.0,
            "{after}"
        );
        assert_eq!(moved("syncgate_push_operations_total", &replayed), 1.0);
        assert_eq!(moved("syncgate_push_operations_total", &conflict), 1.0);
        assert_eq!(sample(&after, "syncgate_conflicts_open", &[]), 1.0);
        assert_eq!(
            moved("syncgate_rows_served_total", &[("endpoint", "changes")]),
            1.0,
            "the one row, at its latest version"
        );
        let push_path = format!("{API}/sync/push");
        let push_route = [
            ("route", push_path.as_str()),
            ("method", "POST"),
            ("status", "200"),
        ];
        assert_eq!(moved("syncgate_http_requests_total", &push_route), 4.0);
        assert_eq!(
            moved(
                "syncgate_http_request_duration_seconds_count",
                &[("route", push_path.as_str())]
            ),
            4.0
        );
        // Every write waits in the outbox of this edge.
        assert_eq!(
            sample(&after, "syncgate_outbox_entries", &[("status", "pending")]),
            2.0
        );
        assert!(sample(&after, "syncgate_db_pool_connections", &[("state", "idle")]) >= 1.0);
        assert_eq!(sample(&after, "syncgate_db_pool_max_connections", &[]), 4.0);
        assert!(sample(&after, "syncgate_db_pool_wait_seconds_count", &[]) >= 3.0);

        // The drain cannot reach the hub: its runs fail, the hub shows unreachable, and the
        // entries stay pending with an age.
        let failed_drain = [("job", "drain"), ("outcome", "failed")];
        let text = scrape_until(&server, "a failed drain run", |text| {
            sample(text, "syncgate_job_runs_total", &failed_drain)
                > sample(&before, "syncgate_job_runs_total", &failed_drain)
        })
        .await;
        assert_eq!(sample(&text, "syncgate_upstream_reachable", &[]), 0.0);
        assert!(sample(&text, "syncgate_outbox_oldest_pending_age_seconds", &[]) > 0.0);

        // A reload that fails, then one that succeeds.
        let generation = sample(&text, "syncgate_schema_generation", &[]);
        let failed_reloads = sample(
            &text,
            "syncgate_schema_reloads_total",
            &[("outcome", "failed")],
        );
        sandbox.write_schema("broken.toml", "[tables.x]\npermissions = 1\n");
        scrape_until(&server, "a failed reload", |text| {
            sample(
                text,
                "syncgate_schema_reloads_total",
                &[("outcome", "failed")],
            ) > failed_reloads
        })
        .await;
        sandbox.remove_schema("broken.toml");
        let text = scrape_until(&server, "a successful reload", |text| {
            sample(text, "syncgate_schema_generation", &[]) > generation
        })
        .await;
        assert!(sample(&text, "syncgate_schema_reloads_total", &[("outcome", "ok")]) >= 1.0);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_can_require_a_token_and_listen_apart() {
    let sandbox = Sandbox::new(common::Backend::Sqlite).await;
    sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
    let metrics_port = free_port();
    let mut config = sandbox.config();
    config.metrics.listen = Some(format!("127.0.0.1:{metrics_port}").parse().unwrap());
    config.metrics.token = Some(Secret::new("scrape-me"));
    let server = TestServer::start(config).await;
    assert_eq!(
        server.get("/metrics").await.status(),
        404,
        "not on the API listener"
    );
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let refused = server.client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let scraped = server
        .client
        .get(&url)
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(
        scraped
            .text()
            .await
            .unwrap()
            .contains("syncgate_schema_generation 1")
    );
    server.stop().await;

    let mut config = sandbox.config();
    config.metrics.enabled = false;
    let server = TestServer::start(config).await;
    assert_eq!(server.get("/metrics").await.status(), 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_app_on_another_origin_can_push() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
        let mut config = sandbox.config();
        config.server.cors.allowed_origins = vec!["http://app.example".into()];
        config.server.cors.max_age = Duration::from_secs(600);
        let server = TestServer::start(config).await;
        let push = server.url(&format!("{API}/sync/push"));

        let preflight = server
            .client
            .request(reqwest::Method::OPTIONS, &push)
            .header("origin", "http://app.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 200, "{backend:?}");
        let headers = preflight.headers();
        assert_eq!(headers["access-control-allow-origin"], "http://app.example");
        assert_eq!(headers["access-control-max-age"], "600");
        let methods = headers["access-control-allow-methods"].to_str().unwrap();
        assert!(methods.contains("POST"), "{methods}");
        let allowed = headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(
            allowed.contains("authorization") && allowed.contains("content-type"),
            "{allowed}"
        );

        let body = json!({"device_id": "browser", "operations": [
            {"table": "items", "action": "insert", "data": {"id": "w1", "name": "web"}}]});
        let answer = server
            .client
            .post(&push)
            .header("origin", "http://app.example")
            .bearer_auth(clerk(1))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(
            answer.headers()["access-control-allow-origin"],
            "http://app.example"
        );
        let exposed = answer.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(exposed.contains("x-request-id"), "{exposed}");

        // Another origin is refused, with the API's error body, and writes nothing.
        let refused = server
            .client
            .post(&push)
            .header("origin", "http://evil.example")
            .bearer_auth(clerk(1))
            .json(&json!({"device_id": "evil", "operations": [
                {"table": "items", "action": "insert", "data": {"id": "w2", "name": "evil"}}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);
        assert!(
            refused
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
        let error: Value = refused.json().await.unwrap();
        assert!(error["error"]["code"].is_string(), "{error}");
        let (status, _) = server
            .get_as(&admin(), &format!("{API}/tables/items/rows/w2"))
            .await;
        assert_eq!(status, 404, "nothing written");
        server.stop().await;
    }

    // Without allowed origins there is no CORS at all: a preflight is an unknown method.
    let sandbox = Sandbox::new(common::Backend::Sqlite).await;
    sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
    let server = TestServer::start(sandbox.config()).await;
    let preflight = server
        .client
        .request(
            reqwest::Method::OPTIONS,
            server.url(&format!("{API}/sync/push")),
        )
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 405);
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    server.stop().await;
}

async fn health(server: &TestServer) -> Value {
    server.get("/health").await.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn health_reports_a_failed_reload_until_one_succeeds() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
        let server = TestServer::start(sandbox.config()).await;
        let first = health(&server).await;
        assert_eq!(first["schema"]["generation"], 1, "{first}");
        assert!(first["schema"]["last_failed_reload"].is_null());

        sandbox.write_schema("broken.toml", "[tables.x]\npermissions = 1\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        let failed = loop {
            let body = health(&server).await;
            if !body["schema"]["last_failed_reload"].is_null() {
                break body;
            }
            assert!(
                Instant::now() < deadline,
                "no failed reload reported: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let failure = &failed["schema"]["last_failed_reload"];
        assert!(
            failure["file"].as_str().unwrap().ends_with("broken.toml"),
            "{failure}"
        );
        assert!(
            failure["error"].as_str().unwrap().contains("table `x`"),
            "{failure}"
        );
        assert!(failure["at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            failed["schema"]["generation"], 1,
            "the first schema still serves"
        );
        assert_eq!(
            server.get("/ready").await.status(),
            200,
            "and the gateway is ready"
        );

        sandbox.remove_schema("broken.toml");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let body = health(&server).await;
            if body["schema"]["generation"] == 2 {
                assert!(body["schema"]["last_failed_reload"].is_null(), "{body}");
                break;
            }
            assert!(Instant::now() < deadline, "no successful reload: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server.stop().await;
    }
}

/// Runs the binary with `--log-format FORMAT`, its log going to a file (not a terminal), sends
/// `requests`, stops it and returns the log.
async fn logged(format: &str, requests: impl AsyncFnOnce(&str, &reqwest::Client)) -> String {
    let sandbox = Sandbox::new(common::Backend::Sqlite).await;
    sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
    let config = sandbox.write_config("[plugins]\nwatch = false\n");
    let port = free_port();
    let log_path = sandbox.path().join("gateway.log");
    let mut child = Command::new(binary())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            format,
        ])
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/ready")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    requests(&base, &client).await;
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    std::fs::read_to_string(log_path).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_request_is_logged_once_with_its_request_id() {
    let log = logged("json", async |base, client| {
        let answer = client
            .get(format!("{base}{API}/sync/devices"))
            .header("x-request-id", "trace-42")
            .bearer_auth(clerk(3))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(
            answer.headers()["x-request-id"],
            "trace-42",
            "the client's id comes back"
        );
        let generated = client.get(format!("{base}/nowhere")).send().await.unwrap();
        assert_eq!(generated.status(), 404);
        let id = generated.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 32, "a generated id: {id}");
    })
    .await;
    assert!(
        !log.contains("Some("),
        "no debug formatting in fields:\n{log}"
    );
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let listening = lines
        .iter()
        .find(|line| line["fields"]["message"] == "syncgate listening")
        .expect("a start line");
    assert!(
        listening["fields"]["address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{listening}"
    );
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "request")
        .collect();
    let traced: Vec<&&Value> = requests
        .iter()
        .filter(|line| line["span"]["request_id"] == "trace-42")
        .collect();
    assert_eq!(traced.len(), 1, "one line per request: {requests:?}");
    let line = traced[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["fields"]["method"], "GET");
    assert_eq!(line["fields"]["route"], format!("{API}/sync/devices"));
    assert_eq!(line["fields"]["status"], 200);
    assert!(
        line["fields"]["latency_ms"].as_f64().unwrap() >= 0.0,
        "{line}"
    );
    assert_eq!(line["span"]["subject"], "clerk-3", "the caller: {line}");
    let unmatched = requests
        .iter()
        .find(|line| line["fields"]["path"] == "/nowhere")
        .expect("the 404 is logged too");
    assert_eq!(unmatched["fields"]["route"], "unmatched");
    assert_eq!(unmatched["fields"]["status"], 404);

    // Text written to a file carries no colour codes.
    let log = logged("text", async |base, client| {
        client.get(format!("{base}/health")).send().await.unwrap();
    })
    .await;
    assert!(log.contains("request_id="), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI codes in a file:\n{log}");
}

/// The series of `/metrics`: each sample line's name and labels (but the scheduler's, whose jobs
/// may first run during a test).
fn series(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter(|line| !line.starts_with("syncgate_job"))
        .filter_map(|line| line.rsplit_once(' ').map(|(series, _)| series.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn no_request_adds_metric_series() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
        let server = TestServer::start(sandbox.config()).await;
        // Every kind of answer once, so that the series they add exist before the count.
        let warm = |server: &TestServer, round: usize| {
            let client = server.client.clone();
            let base = server.url("");
            async move {
                let method =
                    reqwest::Method::from_bytes(format!("M{round:014}").as_bytes()).unwrap();
                let path = format!("/made-up/{round}");
                let _ = client.request(method, format!("{base}{path}")).send().await;
                let _ = client
                    .request(reqwest::Method::GET, format!("{base}{path}"))
                    .send()
                    .await;
                let table = format!("t{round:0>200}");
                for atomic in [true, false] {
                    let body = json!({"device_id": "d", "atomic": atomic, "operations": [
                        {"table": table, "action": "insert", "data": {"id": "x"}}]});
                    let _ = client
                        .post(format!("{base}{API}/sync/push"))
                        .bearer_auth(clerk(1))
                        .json(&body)
                        .send()
                        .await;
                }
            }
        };
        warm(&server, 0).await;
        // The first scrape is counted too.
        scrape(&server).await;
        let before = series(&scrape(&server).await);
        // 10,000 requests with made-up methods, paths and table names, 16 at a time.
        let rounds: Vec<usize> = (1..=2_500).collect();
        for chunk in rounds.chunks(16) {
            futures_util::future::join_all(chunk.iter().map(|round| warm(&server, *round))).await;
        }
        let after = series(&scrape(&server).await);
        let added: Vec<&String> = after.difference(&before).collect();
        assert!(
            added.is_empty(),
            "{backend:?}: {} series added, e.g. {:?}",
            added.len(),
            &added[..added.len().min(5)]
        );
        server.stop().await;
    }
}
