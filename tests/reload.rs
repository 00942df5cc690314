//! Reloading schemas and plugins without a restart: a table added while the gateway runs is
//! pushable and documented shortly after the file is saved; a broken change is refused and the
//! previous schema keeps serving; SIGHUP reloads too; in-flight requests are not dropped.

mod common;

use common::process::free_port;

use common::{API, Backend, Sandbox, TestServer, admin, backends, binary};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const BASE: &str = "[roles.ADMIN]\nscope = \"all\"\n\n[tables.items]\npermissions = { ADMIN = \"crud\" }\n[tables.items.columns]\nid = { type = \"text\" }\n";
const EXTRA: &str = "[tables.extra]\npermissions = { ADMIN = \"crud\" }\nhooks = [\"stamp\"]\n[tables.extra.columns]\nid = { type = \"text\" }\nnote = { type = \"text\", nullable = true }\n";
const STAMP: &str = "fn transform(op, ctx) { let row = op.row; row.note = \"stamped\"; row }\n";

async fn documented(server: &TestServer, path: &str) -> bool {
    let document: Value = server.get("/openapi.json").await.json().await.unwrap();
    document["paths"].get(path).is_some()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_schema_file_is_served_without_a_restart() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("base.toml", BASE);
        let server = TestServer::start(sandbox.config()).await;
        assert!(!documented(&server, &format!("{API}/tables/extra/push")).await);

        // A long-poll in flight while the schema changes is answered normally.
        let client = server.client.clone();
        let url = server.url(&format!("{API}/sync/changes?wait=2"));
        let in_flight = tokio::spawn(async move {
            client
                .get(url)
                .bearer_auth(admin())
                .send()
                .await
                .unwrap()
                .status()
        });

        std::fs::write(sandbox.path().join("plugins/stamp.rhai"), STAMP).unwrap();
        sandbox.write_schema("extra.toml", EXTRA);
        let saved = Instant::now();
        let push = json!([{"table": "extra", "action": "insert", "data": {"id": "e1"}}]);
        let body = loop {
            let (status, body) = server.push(&admin(), "d", true, push.clone()).await;
            if status == 200 {
                break body;
            }
            assert!(
                saved.elapsed() < Duration::from_secs(10),
                "{backend:?}: the new table is not served: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        eprintln!(
            "{backend:?}: the new table was served {:?} after the file was saved",
            saved.elapsed()
        );
        assert_eq!(
            body["applied"][0]["row"]["note"], "stamped",
            "its hook was loaded too"
        );
        assert!(documented(&server, &format!("{API}/tables/extra/push")).await);
        assert_eq!(in_flight.await.unwrap(), 200);

        // A broken change is refused; the previous schema keeps serving.
        sandbox.write_schema(
            "extra.toml",
            &EXTRA.replace("type = \"text\" }\nnote", "type = \"txt\" }\nnote"),
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let push = json!([{"table": "extra", "action": "insert", "data": {"id": "e2"}}]);
        let (status, body) = server.push(&admin(), "d", true, push).await;
        assert_eq!(
            status, 200,
            "{backend:?}: the previous schema still serves: {body}"
        );
        assert!(documented(&server, &format!("{API}/tables/extra/push")).await);
        // The refusal names the file, line and column of the mistake.
        let (_, health) = server.get_as(&admin(), "/health").await;
        let error = health["schema"]["last_failed_reload"]["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let located = error
            .split("extra.toml:")
            .nth(1)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
        assert!(located, "{backend:?}: no line in {health}");

        // A change that would lose data is refused as well.
        sandbox.write_schema(
            "extra.toml",
            &EXTRA.replace("note = { type = \"text\", nullable = true }\n", ""),
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (_, row) = server
            .get_as(&admin(), &format!("{API}/tables/extra/rows/e2"))
            .await;
        assert_eq!(row["note"], "stamped", "{row}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_schema() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_schema("base.toml", BASE);
    let config = sandbox.write_config("[plugins]\nwatch = false\n");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(binary())
        .args(["serve", "--listen", &address, "--config"])
        .arg(&config)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .get(format!("http://{address}/ready"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::fs::write(sandbox.path().join("plugins/stamp.rhai"), STAMP).unwrap();
    sandbox.write_schema("extra.toml", EXTRA);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let spec: Value = client
        .get(format!("http://{address}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        spec["paths"]
            .get(format!("{API}/tables/extra/push"))
            .is_none(),
        "no file watch: not reloaded yet"
    );

    std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spec: Value = client
            .get(format!("http://{address}/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if spec["paths"]
            .get(format!("{API}/tables/extra/push"))
            .is_some()
        {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Reads of both endpoints that serve rows by name, `concurrency` at a time (so that they spread
/// over the pool's connections); answers how many lacked `note = "hello"` when `expect_note`.
async fn read_everywhere(
    server: &std::sync::Arc<TestServer>,
    concurrency: usize,
    rounds: usize,
    expect_note: bool,
) -> usize {
    let mut readers = Vec::new();
    for _ in 0..concurrency {
        let server = server.clone();
        readers.push(tokio::spawn(async move {
            let mut stale = 0;
            for _ in 0..rounds {
                let (status, row) = server
                    .get_as(&admin(), &format!("{API}/tables/items/rows/a"))
                    .await;
                assert_eq!(status, 200, "{row}");
                let (status, page) = server
                    .post_as(
                        &admin(),
                        &format!("{API}/sync/pull"),
                        &json!({"tables": ["items"]}),
                    )
                    .await;
                assert_eq!(status, 200, "{page}");
                if expect_note {
                    stale += usize::from(row["note"] != "hello");
                    stale += usize::from(page["data"]["items"][0]["note"] != "hello");
                }
            }
            stale
        }));
    }
    let mut stale = 0;
    for reader in readers {
        stale += reader.await.unwrap();
    }
    stale
}

/// A column added by a reload is read on every pooled connection, also on those that sat idle
/// through the reload with the table's statements prepared before it (as a long-running
/// server's pool does). The table has a `real` column, so that pull reads rows column by
/// column on SQLite too.
#[tokio::test(flavor = "multi_thread")]
async fn a_column_added_by_a_reload_is_read_by_every_pooled_connection() {
    const TABLE: &str = "[roles.ADMIN]\nscope = \"all\"\n\n[tables.items]\npermissions = { ADMIN = \"crud\" }\n[tables.items.columns]\nid = { type = \"text\" }\nx = { type = \"real\", nullable = true }\n";
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("base.toml", TABLE);
        let mut config = sandbox.config();
        config.database.max_connections = 8;
        let server = std::sync::Arc::new(TestServer::start(config).await);
        let (status, _) = server
            .push(
                &admin(),
                "d",
                true,
                json!([{"table": "items", "action": "insert", "data": {"id": "a", "x": 1.5}}]),
            )
            .await;
        assert_eq!(status, 200);
        // Every connection of the pool opens and prepares the reads; then all fall idle.
        read_everywhere(&server, 12, 20, false).await;

        sandbox.write_schema(
            "base.toml",
            &format!("{TABLE}note = {{ type = \"text\", nullable = true }}\n"),
        );
        let saved = Instant::now();
        loop {
            let document: Value = server.get("/openapi.json").await.json().await.unwrap();
            if document["components"]["schemas"]["items_Row"]["properties"]
                .get("note")
                .is_some()
            {
                break;
            }
            assert!(
                saved.elapsed() < Duration::from_secs(10),
                "{backend:?}: not reloaded"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let push =
            json!([{"table": "items", "action": "update", "data": {"id": "a", "note": "hello"}}]);
        let (status, body) = server.push(&admin(), "d", true, push).await;
        assert_eq!(status, 200, "{body}");

        // Every read after the write sees the new column's value, on every connection.
        let stale = read_everywhere(&server, 12, 25, true).await;
        assert_eq!(
            stale, 0,
            "{backend:?}: {stale} of 600 reads missed the new column"
        );
    }
}
