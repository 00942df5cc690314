//! Writes made directly in the database by other programs (`sqlite3`, `psql`) reach every
//! reader like the gateway's own: a long-poll, a live stream and a fresh bootstrap each end with
//! exactly the rows the database holds, every change once and in feed order; a device writing
//! with the version it saw before an external update conflicts; a gateway killed with SIGKILL
//! while others write loses nothing; a table created by another application, with its rows, is
//! adopted — on SQLite and PostgreSQL.

mod common;

use common::process::{Gateway, free_port};
use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Runs `sql` with the database's own command-line client, as another program would.
fn external(sandbox: &Sandbox, sql: &str) {
    let output = match sandbox.backend {
        Backend::Sqlite => Command::new("sqlite3")
            .args(["-bail", "-cmd", ".timeout 30000"])
            .arg(sandbox.database_url.trim_start_matches("sqlite://"))
            .arg(sql)
            .output(),
        Backend::Postgres => Command::new("psql")
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &sandbox.database_url,
            ])
            .args(["-c", sql])
            .output(),
    }
    .expect("run the database's command-line client (sqlite3, psql)");
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `COPY … FROM STDIN` on PostgreSQL (rows as tab-separated lines); a multi-row INSERT on
/// SQLite, which has no COPY.
fn copy_items(sandbox: &Sandbox, rows: &[(String, i64, String)]) {
    match sandbox.backend {
        Backend::Sqlite => {
            let values: Vec<String> = rows
                .iter()
                .map(|(id, branch, name)| format!("('{id}', {branch}, '{name}')"))
                .collect();
            external(
                sandbox,
                &format!(
                    "INSERT INTO items (id, branch_id, name) VALUES {}",
                    values.join(", ")
                ),
            );
        }
        Backend::Postgres => {
            let mut script = String::from("COPY items (id, branch_id, name) FROM STDIN;\n");
            for (id, branch, name) in rows {
                script.push_str(&format!("{id}\t{branch}\t{name}\n"));
            }
            script.push_str("\\.\n");
            let path = sandbox.path().join("copy.sql");
            std::fs::write(&path, script).unwrap();
            let output = Command::new("psql")
                .args([
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    &sandbox.database_url,
                ])
                .arg("-f")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// The database's own answer: the live rows of `table` in `branch` (all branches for `None`),
/// key → name.
async fn truth(sandbox: &Sandbox, table: &str, branch: Option<i64>) -> BTreeMap<String, Value> {
    use sea_orm::ConnectionTrait;
    let db = sandbox.connect().await;
    let filter = branch.map_or(String::new(), |b| format!(" AND branch_id = {b}"));
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT CAST(id AS TEXT) AS id, name FROM {table} WHERE NOT \"_sg_deleted\"{filter}"
            ),
        ))
        .await
        .unwrap();
    let _ = db.close().await;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("", "id").unwrap();
            let name: Option<String> = row.try_get("", "name").unwrap();
            (id, json!(name))
        })
        .collect()
}

/// Waits until the gateway has followed every logged change (outbox entries, hooks).
async fn followed(sandbox: &Sandbox) {
    use sea_orm::ConnectionTrait;
    let db = sandbox.connect().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM syncgate_external_changes",
            ))
            .await
            .unwrap()
            .unwrap();
        let waiting: i64 = row.try_get("", "n").unwrap();
        if waiting == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{waiting} changes never followed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = db.close().await;
}

/// A device's copy: the changes it received applied in order, key → name.
fn replay(changes: &[Value]) -> BTreeMap<String, Value> {
    let mut copy = BTreeMap::new();
    for change in changes {
        let key = match &change["key"] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        if change["deleted"] == json!(true) {
            copy.remove(&key);
        } else {
            copy.insert(key, change["row"]["name"].clone());
        }
    }
    copy
}

/// Rows on which two copies differ.
fn differences(copy: &BTreeMap<String, Value>, truth: &BTreeMap<String, Value>) -> usize {
    let keys: HashSet<&String> = copy.keys().chain(truth.keys()).collect();
    keys.into_iter()
        .filter(|key| copy.get(*key) != truth.get(*key))
        .count()
}

/// Changes a reader was sent twice (same row and version), and positions out of order.
fn repeats(changes: &[Value]) -> (usize, usize) {
    let mut seen = HashSet::new();
    let twice = changes
        .iter()
        .filter(|change| !seen.insert((change["key"].to_string(), change["version"].clone())))
        .count();
    let seqs: Vec<i64> = changes.iter().map(|c| c["seq"].as_i64().unwrap()).collect();
    let disordered = seqs.windows(2).filter(|pair| pair[0] >= pair[1]).count();
    (twice, disordered)
}

/// Long-polls from the head until `stop` is set and a poll comes back empty.
async fn long_poll(server: Client, token: String, stop: Arc<AtomicBool>) -> Vec<Value> {
    let mut cursor = String::new();
    let mut changes = Vec::new();
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let (status, page) = server
            .get_as(
                &token,
                &format!("{API}/sync/changes?cursor={cursor}&limit=1000&wait=1"),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let entries = page["changes"].as_array().unwrap();
        if stopping && entries.is_empty() {
            return changes;
        }
        changes.extend(entries.iter().cloned());
        cursor = page["cursor"].as_str().unwrap().to_string();
    }
}

fn item(id: &str, branch: i64) -> Value {
    json!({"id": id, "branch_id": branch, "name": id})
}

#[tokio::test(flavor = "multi_thread")]
async fn external_writes_reach_long_polls_streams_and_bootstraps_once() {
    for backend in backends() {
        let (sandbox, server) = sync_server(backend).await;
        let reader = clerk(1);
        // A row in branch 2 that an external update will move into branch 1.
        external(
            &sandbox,
            "INSERT INTO items (id, branch_id, name) VALUES ('in0', 2, 'in0')",
        );
        followed(&sandbox).await;
        let stop = Arc::new(AtomicBool::new(false));
        let poller = tokio::spawn(long_poll(
            Client::new(server.base_url.clone()),
            reader.clone(),
            stop.clone(),
        ));
        let mut stream = EventReader::open(&server, &reader, "", None).await;
        tokio::time::sleep(Duration::from_millis(300)).await;

        let pushers: Vec<_> = (0..4)
            .map(|worker| {
                let client = Client::new(server.base_url.clone());
                let token = clerk(1);
                tokio::spawn(async move {
                    for batch in 0..10 {
                        let ops: Vec<Value> = (0..5)
                            .map(|n| insert("items", item(&format!("g{worker}_{batch}_{n}"), 1)))
                            .collect();
                        let (status, body) = client
                            .push(&token, &format!("pusher-{worker}"), true, json!(ops))
                            .await;
                        assert_eq!(status, 200, "{body}");
                    }
                })
            })
            .collect();
        let writer_sandbox_url = sandbox.database_url.clone();
        let writes = {
            let sandbox = Sandbox {
                dir: tempfile::tempdir().unwrap(),
                backend,
                database_url: writer_sandbox_url,
            };
            tokio::task::spawn_blocking(move || {
                for round in 0..3 {
                    let x = |n: usize| format!("x{round}_{n}");
                    let values: Vec<String> = (0..10)
                        .map(|n| format!("('{}', 1, '{}')", x(n), x(n)))
                        .collect();
                    external(
                        &sandbox,
                        &format!(
                            "INSERT INTO items (id, branch_id, name) VALUES {}",
                            values.join(", ")
                        ),
                    );
                    copy_items(
                        &sandbox,
                        &(10..15).map(|n| (x(n), 1, x(n))).collect::<Vec<_>>(),
                    );
                    external(
                        &sandbox,
                        &format!(
                            "UPDATE items SET name = 'renamed' WHERE id IN ('{}', '{}')",
                            x(0),
                            x(1)
                        ),
                    );
                    // Out of branch 1 (a removal for its readers), and a delete.
                    external(
                        &sandbox,
                        &format!("UPDATE items SET branch_id = 2 WHERE id = '{}'", x(2)),
                    );
                    external(
                        &sandbox,
                        &format!("DELETE FROM items WHERE id = '{}'", x(3)),
                    );
                }
                // Into branch 1 (an ordinary change for its readers).
                external(&sandbox, "UPDATE items SET branch_id = 1 WHERE id = 'in0'");
            })
        };
        for pusher in pushers {
            pusher.await.unwrap();
        }
        writes.await.unwrap();
        followed(&sandbox).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::SeqCst);
        let polled = poller.await.unwrap();
        let streamed = stream.until_quiet(Duration::from_secs(2)).await;
        let bootstrap = all_changes(&server, &reader, "").await;
        let expected = truth(&sandbox, "items", Some(1)).await;
        assert_eq!(expected.len(), 200 + 3 * 13 + 1, "{backend:?}");
        for (name, changes) in [
            ("long-poll", &polled),
            ("stream", &streamed),
            ("bootstrap", &bootstrap),
        ] {
            let wrong = differences(&replay(changes), &expected);
            eprintln!(
                "{backend:?} {name}: {} changes, {wrong} rows differ",
                changes.len()
            );
            assert_eq!(wrong, 0, "{backend:?} {name}");
            assert_eq!(
                repeats(changes),
                (0, 0),
                "{backend:?} {name}: repeated or disordered"
            );
        }
        // A removal for the row moved out, with none of its new values.
        let moved_out = polled
            .iter()
            .rfind(|change| change["key"] == json!("x0_2"))
            .unwrap();
        assert_eq!(moved_out["removed"], json!(true), "{moved_out}");
        assert!(moved_out.get("row").is_none(), "{moved_out}");
        let deleted = polled
            .iter()
            .rfind(|change| change["key"] == json!("x0_3"))
            .unwrap();
        assert_eq!(deleted["deleted"], json!(true), "{deleted}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_writing_an_old_version_after_an_external_update_conflicts() {
    for backend in backends() {
        let (sandbox, server) = sync_server(backend).await;
        let (status, body) = server
            .push(
                &clerk(1),
                "till",
                true,
                json!([insert("items", item("k", 1))]),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["applied"][0]["version"], json!(1));
        // Checked at once: the version moves with the external commit, not with anything after it.
        external(
            &sandbox,
            "UPDATE items SET name = 'by the back office' WHERE id = 'k'",
        );
        let update = json!({
            "table": "items", "action": "update",
            "data": {"id": "k", "name": "by the till", "_version": 1},
        });
        let (status, body) = server.push(&clerk(1), "till", true, json!([update])).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["conflicts"].as_array().unwrap().len(),
            1,
            "{backend:?}: {body}"
        );
        assert_eq!(
            body["conflicts"][0]["conflict"]["server_row"]["name"],
            json!("by the back office"),
            "{body}"
        );
        followed(&sandbox).await;
        let (_, row) = server
            .get_as(&clerk(1), &format!("{API}/tables/items/rows/k"))
            .await;
        assert_eq!(row["name"], json!("by the back office"), "{row}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_made_while_the_gateway_is_killed_reach_the_feed_once() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("sync.toml", SYNC_SCHEMA);
        let config = sandbox.write_config("[plugins]\nwatch = false\n");
        let mut gateway = Gateway::new(config, free_port());
        gateway.start().await;
        let writer = Sandbox {
            dir: tempfile::tempdir().unwrap(),
            backend,
            database_url: sandbox.database_url.clone(),
        };
        let done = Arc::new(AtomicBool::new(false));
        let writes = {
            let done = done.clone();
            tokio::task::spawn_blocking(move || {
                let mut written = 0;
                while !done.load(Ordering::SeqCst) || written < 40 {
                    external(
                        &writer,
                        &format!(
                            "INSERT INTO items (id, branch_id, name) VALUES ('c{written}', 1, 'c{written}')"
                        ),
                    );
                    if written > 0 && written % 3 == 0 {
                        let earlier = written - 1;
                        external(
                            &writer,
                            &format!("UPDATE items SET name = 'again' WHERE id = 'c{earlier}'"),
                        );
                    }
                    written += 1;
                }
                written
            })
        };
        tokio::time::sleep(Duration::from_millis(700)).await;
        gateway.kill();
        tokio::time::sleep(Duration::from_millis(700)).await;
        gateway.start().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        done.store(true, Ordering::SeqCst);
        let written = writes.await.unwrap();
        followed(&sandbox).await;
        let changes = all_changes(&gateway, &admin(), "").await;
        let keys: Vec<String> = changes
            .iter()
            .map(|change| change["key"].as_str().unwrap().to_string())
            .collect();
        let unique: HashSet<&String> = keys.iter().collect();
        assert_eq!(
            unique.len(),
            keys.len(),
            "{backend:?}: a row twice in one bootstrap"
        );
        assert_eq!(keys.len(), written, "{backend:?}");
        let expected = truth(&sandbox, "items", None).await;
        assert_eq!(differences(&replay(&changes), &expected), 0, "{backend:?}");
        eprintln!("{backend:?}: {written} rows written across a SIGKILL, all in the feed once");
        gateway.kill();
    }
}

const LEGACY_SCHEMA: &str = r#"
[roles.ADMIN]
scope = "all"
[roles.CLERK]
scope = "branch"

[tables.legacy]
branch_column = "branch_id"
permissions = { ADMIN = "crud", CLERK = "crud" }
[tables.legacy.columns]
id = { type = "integer" }
branch_id = { type = "integer" }
name = { type = "text", max_length = 50 }
active = { type = "boolean", default = true }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_table_created_by_another_application_is_adopted_with_its_rows() {
    const ROWS: i64 = 100_000;
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        // The other application's table and rows, before the gateway ever ran.
        match backend {
            Backend::Sqlite => {
                std::fs::create_dir_all(sandbox.path().join("data")).unwrap();
                external(
                    &sandbox,
                    &format!(
                        "CREATE TABLE legacy (id INTEGER PRIMARY KEY, branch_id INTEGER, \
                         name VARCHAR(50), active INTEGER); \
                         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                         WHERE i < {ROWS}) INSERT INTO legacy SELECT i, i % 2, 'row ' || i, \
                         i % 3 = 0 FROM n;"
                    ),
                )
            }
            Backend::Postgres => external(
                &sandbox,
                &format!(
                    "CREATE TABLE legacy (id BIGINT PRIMARY KEY, branch_id BIGINT, \
                     name VARCHAR(50), active BOOLEAN); \
                     INSERT INTO legacy SELECT i, i % 2, 'row ' || i, i % 3 = 0 \
                     FROM generate_series(1, {ROWS}) AS i;"
                ),
            ),
        }
        sandbox.write_schema("legacy.toml", LEGACY_SCHEMA);
        let config = sandbox.write_config("[plugins]\nwatch = false\n");
        let check = Command::new(binary())
            .args(["check", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&check.stdout).to_string()
            + String::from_utf8_lossy(&check.stderr).as_ref();
        assert!(check.status.success(), "{said}");
        assert!(said.contains("_sg_seq"), "check lists what it adds: {said}");
        let started = Instant::now();
        let mut gateway = Gateway::new(config, free_port());
        gateway.start().await;
        eprintln!(
            "{backend:?}: adopted {ROWS} rows in {:?}",
            started.elapsed()
        );

        // Another service keeps writing while a device bootstraps branch 1.
        let writer = Sandbox {
            dir: tempfile::tempdir().unwrap(),
            backend,
            database_url: sandbox.database_url.clone(),
        };
        let done = Arc::new(AtomicBool::new(false));
        let writes = {
            let done = done.clone();
            tokio::task::spawn_blocking(move || {
                let mut round = 0;
                while !done.load(Ordering::SeqCst) {
                    let id = ROWS + 1 + round;
                    external(
                        &writer,
                        &format!(
                            "INSERT INTO legacy (id, branch_id, name, active) VALUES \
                             ({id}, 1, 'new {id}', {t}); \
                             UPDATE legacy SET name = 'changed {round}' WHERE id = {u}; \
                             UPDATE legacy SET branch_id = 0 WHERE id = {m}; \
                             DELETE FROM legacy WHERE id = {d};",
                            t = if backend == Backend::Sqlite {
                                "1"
                            } else {
                                "true"
                            },
                            u = 2 * round + 1,
                            m = 2 * round + 1001,
                            d = 2 * round + 2001,
                        ),
                    );
                    round += 1;
                }
                round
            })
        };
        let device = clerk(1);
        let mut changes = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, page) = gateway
                .get_as(
                    &device,
                    &format!("{API}/sync/changes?cursor={cursor}&limit=5000"),
                )
                .await;
            assert_eq!(status, 200, "{page}");
            changes.extend(page["changes"].as_array().unwrap().iter().cloned());
            cursor = page["cursor"].as_str().unwrap().to_string();
            if !page["has_more"].as_bool().unwrap() {
                break;
            }
        }
        done.store(true, Ordering::SeqCst);
        let rounds = writes.await.unwrap();
        followed(&sandbox).await;
        // Catching up after the writer stopped.
        loop {
            let (_, page) = gateway
                .get_as(
                    &device,
                    &format!("{API}/sync/changes?cursor={cursor}&limit=5000"),
                )
                .await;
            changes.extend(page["changes"].as_array().unwrap().iter().cloned());
            cursor = page["cursor"].as_str().unwrap().to_string();
            if !page["has_more"].as_bool().unwrap() {
                break;
            }
        }
        let expected = truth(&sandbox, "legacy", Some(1)).await;
        let wrong = differences(&replay(&changes), &expected);
        eprintln!(
            "{backend:?}: device bootstrapped {} rows during {rounds} rounds of other writes; \
             {wrong} rows differ",
            expected.len()
        );
        assert!(rounds > 0);
        assert_eq!(wrong, 0, "{backend:?}");
        // The booleans the other application stored as it does are read as booleans.
        let (_, row) = gateway
            .get_as(&device, &format!("{API}/tables/legacy/rows/5"))
            .await;
        assert_eq!(row["active"], json!(false), "{row}");
        gateway.kill();
    }
}

const HOOKED_SCHEMA: &str = r#"
[roles.ADMIN]
scope = "all"

[tables.audited]
permissions = { ADMIN = "crud" }
hooks = ["http://127.0.0.1:9/after"]
external_hooks = true
[tables.audited.columns]
id = { type = "text" }
name = { type = "text", nullable = true }

[tables.quiet]
permissions = { ADMIN = "crud" }
hooks = ["http://127.0.0.1:9/after"]
[tables.quiet.columns]
id = { type = "text" }
name = { type = "text", nullable = true }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_table_can_ask_for_its_webhooks_on_external_writes_and_they_are_counted() {
    use sea_orm::ConnectionTrait;
    for (round, backend) in backends().into_iter().enumerate() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("hooked.toml", HOOKED_SCHEMA);
        let server = TestServer::start(sandbox.config()).await;
        external(
            &sandbox,
            "INSERT INTO audited (id, name) VALUES ('a1', 'x'); \
             UPDATE audited SET name = 'y' WHERE id = 'a1'; \
             INSERT INTO quiet (id, name) VALUES ('q1', 'x'), ('q2', 'x');",
        );
        followed(&sandbox).await;
        let db = sandbox.connect().await;
        let bodies: Vec<String> = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT body FROM syncgate_webhook_deliveries",
            ))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get("", "body").unwrap())
            .collect();
        assert!(!bodies.is_empty(), "{backend:?}: no delivery queued");
        assert!(
            bodies.iter().all(|body| body.contains("\"audited\"")),
            "{backend:?}: only the table that asked: {bodies:?}"
        );
        let metrics = server.get("/metrics").await.text().await.unwrap();
        let counted = |table: &str| {
            metrics
                .lines()
                .find(|line| {
                    line.starts_with("syncgate_external_changes_total")
                        && line.contains(&format!("table=\"{table}\""))
                })
                .and_then(|line| line.rsplit(' ').next())
                .and_then(|value| value.parse::<f64>().ok())
        };
        assert!(counted("audited").is_some_and(|n| n >= 1.0), "{metrics}");
        // One process serves both backends in turn: its counters add up.
        assert_eq!(
            counted("quiet"),
            Some(2.0 * (round + 1) as f64),
            "{backend:?}"
        );
        server.stop().await;
    }
}

/// Every change after `cursor` (pages until `has_more` is false), and the cursor after them.
async fn changes_since(server: &Client, token: &str, cursor: &str) -> (Vec<Value>, String) {
    let mut cursor = cursor.to_string();
    let mut changes = Vec::new();
    loop {
        let (status, page) = server
            .get_as(
                token,
                &format!("{API}/sync/changes?cursor={cursor}&limit=1000"),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        changes.extend(page["changes"].as_array().unwrap().iter().cloned());
        cursor = page["cursor"].as_str().unwrap().to_string();
        if !page["has_more"].as_bool().unwrap() {
            return (changes, cursor);
        }
    }
}

/// A device's copy of every table: (table, key) → row without `_version`.
fn apply(copy: &mut BTreeMap<(String, String), Value>, changes: &[Value]) {
    for change in changes {
        let slot = (
            change["table"].as_str().unwrap().to_string(),
            change["key"].to_string(),
        );
        if change["deleted"] == json!(true) {
            copy.remove(&slot);
        } else {
            let mut row = change["row"].clone();
            row.as_object_mut().unwrap().remove("_version");
            copy.insert(slot, row);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn external_writes_move_rows_scoped_through_parents_like_pushes_do() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("views.toml", include_str!("fixtures/views.toml"));
        let server = TestServer::start(sandbox.config()).await;
        let crew = |names: &str| match backend {
            Backend::Sqlite => format!("'{names}'"),
            Backend::Postgres => format!("'{names}'::jsonb"),
        };
        external(
            &sandbox,
            "INSERT INTO jobs (id, owner) VALUES ('j1', 'ann'); \
             INSERT INTO visits (id, job_id) VALUES ('v1', 'j1'); \
             INSERT INTO photos (id, visit_id) VALUES ('p1', 'v1');",
        );
        let users = ["ann", "bob"];
        let mut copies = Vec::new();
        for user in users {
            let reader = token(user, "OWNER", None);
            let (changes, cursor) = changes_since(&server, &reader, "").await;
            let mut copy = BTreeMap::new();
            apply(&mut copy, &changes);
            copies.push((reader, copy, cursor));
        }
        assert_eq!(
            copies[0].1.len(),
            3,
            "ann starts with her job, visit and photo"
        );
        let steps = [
            // The job changes hands: its visit and photo go with it.
            "UPDATE jobs SET owner = 'bob' WHERE id = 'j1'".to_string(),
            // A visit waiting for its job, then the job: the job adopts it.
            "INSERT INTO visits (id, job_id) VALUES ('v2', 'j2')".to_string(),
            "INSERT INTO jobs (id, owner) VALUES ('j2', 'ann')".to_string(),
            // A visit moved to another job, its photo along.
            "UPDATE visits SET job_id = 'j2' WHERE id = 'v1'".to_string(),
            // Bob joins the crew of ann's job.
            format!(
                "UPDATE jobs SET crew = {} WHERE id = 'j2'",
                crew("[\"bob\"]")
            ),
            format!("UPDATE jobs SET crew = {} WHERE id = 'j2'", crew("[]")),
            "DELETE FROM photos WHERE id = 'p1'".to_string(),
            "UPDATE jobs SET secret = 'x' WHERE id = 'j1'".to_string(),
        ];
        let mut differences = 0;
        for (step, sql) in steps.iter().enumerate() {
            external(&sandbox, sql);
            for (reader, copy, cursor) in &mut copies {
                let (changes, next) = changes_since(&server, reader, cursor).await;
                apply(copy, &changes);
                *cursor = next;
                let mut fresh = BTreeMap::new();
                apply(&mut fresh, &changes_since(&server, reader, "").await.0);
                if *copy != fresh {
                    eprintln!("{backend:?} step {step} ({sql}): {copy:?} != {fresh:?}");
                    differences += 1;
                }
            }
        }
        assert_eq!(
            differences, 0,
            "{backend:?}: copies that differ from a fresh bootstrap"
        );
        let keys = |copy: &BTreeMap<(String, String), Value>| -> Vec<String> {
            copy.keys()
                .map(|(table, key)| format!("{table}:{key}"))
                .collect()
        };
        assert_eq!(
            keys(&copies[0].1),
            ["jobs:\"j2\"", "visits:\"v1\"", "visits:\"v2\""],
            "{backend:?}: ann"
        );
        assert_eq!(keys(&copies[1].1), ["jobs:\"j1\""], "{backend:?}: bob");
        server.stop().await;
    }
}

/// Runs `sql` as another program would; whether it succeeded.
fn external_succeeds(sandbox: &Sandbox, sql: &str) -> bool {
    std::panic::catch_unwind(|| external(sandbox, sql)).is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_deleted_through_the_gateway_can_be_inserted_again_by_another_program() {
    for backend in backends() {
        let (sandbox, server) = sync_server(backend).await;
        let (status, body) = server
            .push(
                &clerk(1),
                "till",
                true,
                json!([insert("items", item("k", 1))]),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let delete = json!({"table": "items", "action": "delete", "data": {"id": "k"}});
        let (status, body) = server.push(&clerk(1), "till", true, json!([delete])).await;
        assert_eq!(status, 200, "{body}");
        let (_, cursor) = changes_since(&server, &clerk(1), "").await;
        // As README says: a plain INSERT is a duplicate of the tombstone; removing the tombstone
        // first works on both backends (and INSERT OR REPLACE on SQLite).
        let insert_again = "INSERT INTO items (id, branch_id, name) VALUES ('k', 1, 'again')";
        assert!(!external_succeeds(&sandbox, insert_again));
        let (unchanged, _) = changes_since(&server, &clerk(1), &cursor).await;
        assert!(unchanged.is_empty(), "{unchanged:?}");
        match backend {
            Backend::Postgres => external(
                &sandbox,
                &format!("BEGIN; DELETE FROM items WHERE id = 'k'; {insert_again}; COMMIT;"),
            ),
            Backend::Sqlite => external(
                &sandbox,
                &insert_again.replace("INSERT", "INSERT OR REPLACE"),
            ),
        }
        let (after, _) = changes_since(&server, &clerk(1), &cursor).await;
        assert_eq!(after.len(), 1, "{backend:?}: {after:?}");
        assert_eq!(after[0]["deleted"], json!(false), "{after:?}");
        assert_eq!(after[0]["row"]["name"], json!("again"), "{after:?}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgresql_role_with_rights_on_the_synced_table_only_is_a_writer() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let (sandbox, server) = sync_server(Backend::Postgres).await;
    let role = format!("till_{}", uuid::Uuid::new_v4().simple());
    external(
        &sandbox,
        &format!(
            "CREATE ROLE {role} LOGIN; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON items TO {role};"
        ),
    );
    let till = Sandbox {
        dir: tempfile::tempdir().unwrap(),
        backend: Backend::Postgres,
        database_url: sandbox
            .database_url
            .replacen("postgres@", &format!("{role}@"), 1),
    };
    external(
        &till,
        "INSERT INTO items (id, branch_id, name) VALUES ('r1', 1, 'r1'), ('r2', 1, 'r2'); \
         UPDATE items SET name = 'renamed' WHERE id = 'r1'; DELETE FROM items WHERE id = 'r2';",
    );
    assert!(
        !external_succeeds(&till, "UPDATE syncgate_sequence SET value = value + 1"),
        "the role has no right on the gateway's tables"
    );
    followed(&sandbox).await;
    let changes = all_changes(&server, &clerk(1), "").await;
    assert_eq!(
        replay(&changes),
        BTreeMap::from([("r1".to_string(), json!("renamed"))]),
        "{changes:?}"
    );
    server.stop().await;
}
