//! `syncgate serve`: health and readiness, the error body, body limits, graceful shutdown, and
//! clear start-up failures — on SQLite and PostgreSQL.

mod common;

use common::process::free_port;

use common::{Backend, Sandbox, TestServer, backends, binary};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn health_and_ready_answer_on_every_backend() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_shop();
        let server = TestServer::start(sandbox.config()).await;

        let health: Value = server.get("/health").await.json().await.unwrap();
        assert_eq!(health["status"], "ok", "{backend:?}");
        assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));

        let ready = server.get("/ready").await;
        assert_eq!(ready.status(), 200);
        let ready: Value = ready.json().await.unwrap();
        let expected = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        assert_eq!(ready["database"], expected);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_share_one_json_body() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_shop();
    let mut config = sandbox.config();
    config.server.max_body_bytes = 1024;
    let server = TestServer::start(config).await;

    let missing = server.get("/no/such/route").await;
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].is_string());
    assert!(body["error"]["details"].is_object());

    let too_large = server
        .client
        .post(server.url("/health"))
        .body(vec![b'x'; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);
    let body: Value = too_large.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");

    let wrong_method = server
        .client
        .delete(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    let body: Value = wrong_method.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sqlite_file_is_created_in_wal_mode_on_first_start() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_shop();
    let file = sandbox.path().join("data/test.db");
    assert!(!file.exists());
    let server = TestServer::start(sandbox.config()).await;
    assert!(
        file.exists(),
        "the database file is created with its directory"
    );
    let db = sandbox.connect().await;
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA journal_mode",
        ))
        .await
        .unwrap()
        .unwrap();
    let mode: String = row.try_get_by_index(0).unwrap();
    assert_eq!(mode, "wal");
    server.stop().await;
}

/// Starts the real binary and returns it with the address it logged.
fn spawn_binary(sandbox: &Sandbox, extra_args: &[&str]) -> (std::process::Child, String) {
    let config = sandbox.write_config("");
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let address = format!("127.0.0.1:{port}");
    let child = Command::new(binary())
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--listen", &address])
        .args(extra_args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start syncgate");
    (child, address)
}

async fn wait_ready(address: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = reqwest::get(format!("http://{address}/ready")).await
            && response.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "not ready within 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_binary_cleanly_with_json_logs() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_shop();
    let (mut child, address) = spawn_binary(&sandbox, &["--log-format", "json"]);
    wait_ready(&address).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
    let lines: Vec<String> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(parsed["level"].is_string(), "{line}");
    }
    assert!(lines.iter().any(|l| l.contains("syncgate listening")));
    assert!(lines.iter().any(|l| l.contains("syncgate stopped")));
}

#[tokio::test(flavor = "multi_thread")]
async fn in_flight_requests_finish_during_shutdown() {
    // A chunked upload still being sent when shutdown starts must get its answer.
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_shop();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(syncgate::server::launch(
        sandbox.config(),
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    wait_ready(&address.to_string()).await;

    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(receiver));
    let request = tokio::spawn(
        reqwest::Client::new()
            .post(format!("http://{address}/health"))
            .body(body)
            .send(),
    );
    sender.send(Ok(b"first part".to_vec())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    sender.send(Ok(b"second part".to_vec())).await.unwrap();
    drop(sender);
    let response = request
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    // /health accepts GET only: the answer itself (405) shows the request was served.
    assert_eq!(response.status(), 405);
    server.await.unwrap().expect("clean stop");
}

fn tokio_stream_from(
    mut receiver: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

fn run_serve(config_text: &str, sandbox: &Sandbox) -> (i32, String) {
    let config = sandbox.path().join("config.toml");
    std::fs::write(&config, config_text).unwrap();
    let output = Command::new(binary())
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn start_up_failures_are_one_clear_paragraph() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_shop();
    let auth = format!("[auth]\njwt_secret = \"{}\"\n", common::TEST_SECRET);
    let db = format!("{auth}[database]\nurl = \"{}\"\n", sandbox.database_url);
    let cases = [
        (
            "unreachable database",
            format!(
                "{auth}[database]\nurl = \"postgres://app:hunter2@127.0.0.1:1/sync\"\nconnect_timeout = \"1s\"\n"
            ),
            vec![
                "cannot connect to the database at postgres://app:***@127.0.0.1:1/sync",
                "SYNCGATE_DATABASE__URL",
            ],
        ),
        (
            "unreadable schema directory",
            format!("{db}[paths]\nschemas = \"missing\"\n"),
            vec!["cannot read the schema directory", "paths.schemas"],
        ),
        (
            "broken schema",
            format!("{db}[paths]\nschemas = \"broken\"\n"),
            vec!["the sync schema has 1 error", "not valid TOML"],
        ),
        (
            "bad config value",
            format!("{auth}[server]\nshutdown_timeout = \"soon\"\n"),
            vec!["key `server.shutdown_timeout` = `soon`"],
        ),
    ];
    std::fs::create_dir_all(sandbox.path().join("broken")).unwrap();
    std::fs::write(sandbox.path().join("broken/x.toml"), "[tables.x\n").unwrap();
    for (what, config, expected) in cases {
        let (code, stderr) = run_serve(&config, &sandbox);
        assert_eq!(code, 1, "{what}: {stderr}");
        assert!(stderr.starts_with("error: "), "{what}: {stderr}");
        for text in expected {
            assert!(
                stderr.contains(text),
                "{what}: missing `{text}` in {stderr}"
            );
        }
        assert!(!stderr.contains("hunter2"), "{what}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{what}: {stderr}"
        );
    }

    let output = Command::new(binary())
        .args(["serve", "--config"])
        .arg(sandbox.path().join("absent.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("absent.toml` does not exist"), "{stderr}");
}

/// CPU time (user + system) the process has used, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces), counted from `state` (field 3).
    let after = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_file_descriptors_the_server_waits_instead_of_spinning() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
    let config = sandbox.write_config("[plugins]\nwatch = false\n");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    // A low descriptor limit, so that a few dozen connections exhaust it.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 64 && exec {} serve --config {} --listen {address}",
            binary(),
            config.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&address).await;
    let held: Vec<std::net::TcpStream> = (0..100)
        .filter_map(|_| std::net::TcpStream::connect(&address).ok())
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = cpu_time(child.id());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_time(child.id()) - before;
    assert!(
        used < Duration::from_millis(500),
        "{} connections beyond the limit: {used:?} of CPU in 2 s",
        held.len()
    );
    // Once descriptors free, it serves again.
    drop(held);
    wait_ready(&address).await;
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_ends_live_streams_and_answers_waiting_long_polls() {
    // Neither finishes by itself; with a shutdown timeout of an hour, only ending them lets
    // the process stop.
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_shop();
        let mut config = sandbox.config();
        config.server.shutdown_timeout = Duration::from_secs(3600);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(syncgate::server::launch(config, listener, async {
            let _ = stopped.await;
        }));
        wait_ready(&address.to_string()).await;
        let client = reqwest::Client::new();
        let token = common::admin();
        let stream = client
            .get(format!("http://{address}/api/v1/sync/stream"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        let long_poll = tokio::spawn(
            client
                .get(format!(
                    "http://{address}/api/v1/sync/changes?cursor=0&wait=60"
                ))
                .bearer_auth(&token)
                .send(),
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.send(()).unwrap();

        let answered = tokio::time::timeout(Duration::from_secs(20), long_poll)
            .await
            .expect("the waiting long-poll is answered at shutdown")
            .unwrap()
            .unwrap();
        assert_eq!(answered.status(), 200, "{backend:?}");
        let page: Value = answered.json().await.unwrap();
        assert_eq!(page["changes"], serde_json::json!([]), "{backend:?}");
        tokio::time::timeout(Duration::from_secs(20), stream.bytes())
            .await
            .expect("the live stream ends at shutdown")
            .unwrap();
        tokio::time::timeout(Duration::from_secs(20), server)
            .await
            .expect("the process stops long before server.shutdown_timeout")
            .unwrap()
            .expect("clean stop");
    }
}
