//! The devices' copies against the server, by model: devices of every kind of scope (two
//! branches, owners with assignees, two claim values, one reading only the live stream) each
//! keep a map of rows built only from what the feed (or the stream) sends them. A seeded random
//! sequence of writes follows — inserts, updates that move rows between branches, owners, crews
//! and regions, plain updates, deletes, writes by the scoped users themselves, new tokens with
//! other claims, and reloads that take a table from one role and give one to another — and
//! after each operation every device's map must equal what the server answers that device to a
//! fresh bootstrap. The count of differences is the figure; it must be 0, on every backend.
//!
//! `SGTEST_MODEL_OPS` sets the number of operations (default 10,000).

mod common;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SCHEMA: &str = include_str!("fixtures/views.toml");

/// The reload: CLERK no longer reads `prices`; REGION reads `stock` (by its `region`).
fn reloaded_schema() -> String {
    SCHEMA
        .replace(
            "permissions = { ADMIN = \"crud\", CLERK = \"r\", OWNER = \"r\", REGION = \"r\" }",
            "permissions = { ADMIN = \"crud\", OWNER = \"r\", REGION = \"r\" }",
        )
        .replace(
            "permissions = { ADMIN = \"crud\", CLERK = \"crud\" }",
            "permissions = { ADMIN = \"crud\", CLERK = \"crud\", REGION = \"r\" }",
        )
}

/// Rows by `(table, key as JSON text)`.
type Rows = BTreeMap<(String, String), Value>;

fn region_token(sub: &str, region: &str) -> String {
    let mut claims = serde_json::Map::new();
    claims.insert("region".into(), json!(region));
    token_with(sub, "REGION", None, claims, 3600)
}

/// Applies one change of the feed (or one event of the stream) to a copy.
fn apply(rows: &mut Rows, change: &Value) {
    let slot = (
        change["table"].as_str().unwrap().to_string(),
        change["key"].to_string(),
    );
    if change["deleted"] == true {
        rows.remove(&slot);
    } else {
        rows.insert(slot, change["row"].clone());
    }
}

/// Every change `token` reads of `tables` (all when empty) from `cursor`, applied to `rows`;
/// answers the cursor to go on from, or the body of a refusal.
async fn read_on(
    server: &Client,
    token: &str,
    tables: &str,
    mut cursor: String,
    rows: &mut Rows,
) -> Result<String, Value> {
    loop {
        let path = format!("{API}/sync/changes?cursor={cursor}&limit=500{tables}");
        let (status, page) = server.get_as(token, &path).await;
        if status != 200 {
            return Err(page);
        }
        for change in page["changes"].as_array().unwrap() {
            apply(rows, change);
        }
        cursor = page["cursor"].as_str().unwrap().to_string();
        if page["has_more"] == false {
            return Ok(cursor);
        }
    }
}

/// What the server answers `token` to a fresh bootstrap.
async fn fresh(server: &Client, token: &str) -> Rows {
    let mut rows = Rows::new();
    read_on(server, token, "", String::new(), &mut rows)
        .await
        .expect("a bootstrap is answered");
    rows
}

/// Turns a `resync_required` refusal into what a client does: drop the named tables, read them
/// again from the start, and answer the cursor to go on from.
async fn resync(server: &Client, token: &str, refusal: &Value, rows: &mut Rows) -> String {
    let details = &refusal["error"]["details"];
    assert_eq!(refusal["error"]["code"], "resync_required", "{refusal}");
    let mut names: Vec<&str> = Vec::new();
    for list in ["tables", "dropped"] {
        names.extend(
            details[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap()),
        );
    }
    rows.retain(|(table, _), _| !names.contains(&table.as_str()));
    for table in details["tables"].as_array().unwrap() {
        let only = format!("&tables={}", table.as_str().unwrap());
        read_on(server, token, &only, String::new(), rows)
            .await
            .expect("a table is read again from the start");
    }
    details["cursor"].as_str().unwrap().to_string()
}

/// A device that reads the changes feed.
struct Device {
    name: String,
    token: String,
    cursor: String,
    rows: Rows,
    resyncs: usize,
}

impl Device {
    fn new(name: &str, token: String) -> Self {
        Self {
            name: name.into(),
            token,
            cursor: String::new(),
            rows: Rows::new(),
            resyncs: 0,
        }
    }

    async fn sync(&mut self, server: &Client) {
        loop {
            let cursor = self.cursor.clone();
            match read_on(server, &self.token, "", cursor, &mut self.rows).await {
                Ok(cursor) => {
                    self.cursor = cursor;
                    return;
                }
                Err(refusal) => {
                    self.cursor = resync(server, &self.token, &refusal, &mut self.rows).await;
                    self.resyncs += 1;
                }
            }
        }
    }
}

/// A device that reads only the live stream (and the feed, to read tables again when told).
struct StreamDevice {
    rows: Arc<Mutex<Rows>>,
    task: tokio::task::JoinHandle<()>,
}

impl StreamDevice {
    fn start(server: &TestServer, token: String) -> Self {
        let rows = Arc::new(Mutex::new(Rows::new()));
        let client = server.client.clone();
        let http = Client::new(server.url(""));
        let base = server.url("");
        let copy = rows.clone();
        let task = tokio::spawn(async move {
            let mut cursor = String::new();
            loop {
                let url = format!("{base}{API}/sync/stream?cursor={cursor}");
                let response = client.get(url).bearer_auth(&token).send().await.unwrap();
                if response.status() == 409 {
                    let refusal: Value = response.json().await.unwrap();
                    let mut rows = copy.lock().unwrap().clone();
                    cursor = resync(&http, &token, &refusal, &mut rows).await;
                    *copy.lock().unwrap() = rows;
                    continue;
                }
                assert_eq!(response.status(), 200);
                let mut body = response.bytes_stream();
                let mut buffer = String::new();
                'events: while let Some(Ok(bytes)) = body.next().await {
                    buffer.push_str(&String::from_utf8_lossy(&bytes));
                    while let Some(end) = buffer.find("\n\n") {
                        let block: String = buffer.drain(..end + 2).collect();
                        let field = |name: &str| {
                            block
                                .lines()
                                .find_map(|line| line.strip_prefix(name))
                                .map(str::to_string)
                        };
                        let Some(data) = field("data: ") else {
                            continue;
                        };
                        let data: Value = serde_json::from_str(&data).unwrap();
                        if field("event: ").as_deref() == Some("resync_required") {
                            let mut rows = copy.lock().unwrap().clone();
                            cursor = resync(&http, &token, &data, &mut rows).await;
                            *copy.lock().unwrap() = rows;
                            break 'events;
                        }
                        apply(&mut copy.lock().unwrap(), &data);
                        cursor = field("id: ").unwrap();
                    }
                }
            }
        });
        Self { rows, task }
    }

    fn copy(&self) -> Rows {
        self.rows.lock().unwrap().clone()
    }
}

/// Rows present in one map and not the other, or different in both.
fn differences(device: &Rows, server: &Rows) -> usize {
    let missing = server
        .iter()
        .filter(|(slot, row)| device.get(*slot) != Some(*row))
        .count();
    let extra = device
        .keys()
        .filter(|slot| !server.contains_key(*slot))
        .count();
    missing + extra
}

/// One random write by the admin (or a scoped user); answers what kind it was.
async fn random_write(server: &Client, rng: &mut Rng) -> &'static str {
    let key = rng.below(25);
    let (table, key, scope, kind): (&str, Value, Value, _) = match rng.below(7) {
        0 => {
            let branch = json!(1 + rng.below(3));
            (
                "stock",
                json!(format!("s{key}")),
                json!({"branch_id": branch}),
                0,
            )
        }
        1 => {
            let people = ["alice", "bob", "erin"];
            let crew: Vec<&str> = people
                .iter()
                .copied()
                .filter(|_| rng.below(3) == 0)
                .collect();
            let scope = json!({"owner": rng.pick(&people), "crew": crew});
            ("jobs", json!(format!("j{key}")), scope, 1)
        }
        2 => {
            let scope = json!({"region": rng.pick(&["eu", "us", "asia"])});
            ("sites", json!(key), scope, 2)
        }
        3 => ("prices", json!(format!("x{key}")), json!({}), 3),
        // Rows scoped through a parent: a new parent key moves them; so does their parent.
        4 => {
            let job = match rng.below(8) {
                0 => Value::Null,
                n => json!(format!("j{}", (n * 3 + rng.below(3)) % 25)),
            };
            (
                "visits",
                json!(format!("v{key}")),
                json!({"job_id": job}),
                4,
            )
        }
        5 => {
            let visit = json!(format!("v{}", rng.below(25)));
            (
                "photos",
                json!(format!("p{key}")),
                json!({"visit_id": visit}),
                5,
            )
        }
        _ => {
            let stock = json!(format!("s{}", rng.below(25)));
            ("counts", json!(key), json!({"stock_id": stock}), 6)
        }
    };
    let secret = json!(format!("v{}", rng.next() % 1000));
    let pk = |mut data: Value| {
        data["id"] = key.clone();
        data
    };
    let (token, device, op, label) = match rng.below(20) {
        // A scoped user writes its own row: a clerk in branch 1.
        0 if kind == 0 => {
            let data = pk(json!({"branch_id": 1, "secret": secret}));
            (
                clerk(1),
                "till",
                operation(None, table, "upsert", data),
                "clerk write",
            )
        }
        // Under a stock row of another branch it is refused: still a step.
        0 if kind == 6 => {
            let mut data = pk(scope);
            data["secret"] = secret;
            (
                clerk(1),
                "till",
                operation(None, table, "upsert", data),
                "clerk write",
            )
        }
        0..=6 => {
            let mut data = pk(scope);
            data["secret"] = secret;
            (
                admin(),
                "admin",
                operation(None, table, "upsert", data),
                "upsert (may move)",
            )
        }
        7..=12 => {
            let data = pk(scope);
            let label = match kind {
                // Stock rows and jobs are parents: their moves take their counts and visits.
                0 | 1 => "scope change (of a parent)",
                4..=6 => "parent key change",
                _ => "scope change",
            };
            (
                admin(),
                "admin",
                operation(None, table, "upsert", data),
                label,
            )
        }
        13..=16 => {
            let data = pk(json!({"secret": secret}));
            (
                admin(),
                "admin",
                operation(None, table, "update", data),
                "plain update",
            )
        }
        _ => (
            admin(),
            "admin",
            operation(None, table, "delete", pk(json!({}))),
            "delete",
        ),
    };
    let (status, body) = server.push(&token, device, false, json!([op])).await;
    assert_eq!(status, 200, "{body}");
    // An update or delete of a key not written yet is refused as not found: still a step.
    label
}

async fn wait_reloaded(server: &Client, clerk_reads_prices: bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let path = format!("{API}/sync/changes?tables=prices&limit=1");
        let (status, _) = server.get_as(&clerk(1), &path).await;
        if (status == 200) == clerk_reads_prices {
            return;
        }
        assert!(Instant::now() < deadline, "the schema was not reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_copy_equals_a_fresh_bootstrap_after_every_operation() {
    let operations: usize = std::env::var("SGTEST_MODEL_OPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("views.toml", SCHEMA);
        let server = TestServer::start(sandbox.config()).await;
        let mut rng = Rng(0x005e_ed0f_u64 ^ operations as u64);
        let mut devices = [
            Device::new("clerk branch 1", clerk(1)),
            Device::new("clerk branch 2", clerk(2)),
            Device::new("owner alice", token("alice", "OWNER", None)),
            Device::new("owner erin", token("erin", "OWNER", None)),
            Device::new("region eu", region_token("reg-1", "eu")),
            Device::new("region us", region_token("reg-2", "us")),
        ];
        let streamed = StreamDevice::start(&server, clerk(3));
        let mut mix: BTreeMap<&str, usize> = BTreeMap::new();
        let mut reloaded = false;
        let mut total_differences = 0;
        let started = Instant::now();
        for step in 0..operations {
            // A reload that changes two roles' tables, eight times in a run.
            let reload = step % (operations / 8).max(1) == operations / 16;
            let label = match rng.below(100) {
                _ if reload => {
                    reloaded = !reloaded;
                    let text = if reloaded {
                        reloaded_schema()
                    } else {
                        SCHEMA.to_string()
                    };
                    sandbox.write_schema("views.toml", &text);
                    wait_reloaded(&server, !reloaded).await;
                    "permission reload"
                }
                // A new token with another claim for one device.
                0 | 1 => {
                    let device = rng.below(devices.len() as u64) as usize;
                    let token = match device {
                        0 | 1 => clerk(1 + rng.below(3) as i64),
                        2 | 3 => token(rng.pick::<&str>(&["alice", "bob", "erin"]), "OWNER", None),
                        _ => region_token("reg", rng.pick::<&str>(&["eu", "us", "asia"])),
                    };
                    devices[device].token = token;
                    "new claims"
                }
                _ => random_write(&server, &mut rng).await,
            };
            *mix.entry(label).or_default() += 1;

            let syncs = devices.iter_mut().map(|device| device.sync(&server));
            futures_util::future::join_all(syncs).await;
            let truths = devices.iter().map(|device| fresh(&server, &device.token));
            let truths = futures_util::future::join_all(truths).await;
            for (device, truth) in devices.iter().zip(&truths) {
                let found = differences(&device.rows, truth);
                if found > 0 && total_differences < 5 {
                    eprintln!(
                        "{backend:?} step {step} ({label}): {} differs in {found} rows:\n  \
                         device {:?}\n  server {truth:?}",
                        device.name, device.rows
                    );
                }
                total_differences += found;
            }
            // The stream delivers after the write's commit: give it a moment to arrive.
            let truth = fresh(&server, &clerk(3)).await;
            let deadline = Instant::now() + Duration::from_secs(5);
            while differences(&streamed.copy(), &truth) > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let found = differences(&streamed.copy(), &truth);
            if found > 0 && total_differences < 5 {
                eprintln!("{backend:?} step {step} ({label}): the stream differs in {found} rows");
            }
            total_differences += found;
        }
        streamed.task.abort();
        let resyncs: usize = devices.iter().map(|device| device.resyncs).sum();
        eprintln!(
            "{backend:?}: {operations} operations in {:?}, mix {mix:?}, {resyncs} resyncs, \
             {total_differences} differences",
            started.elapsed()
        );
        assert!(
            mix.iter()
                .filter(|(label, _)| label.contains("scope change"))
                .map(|(_, n)| n)
                .sum::<usize>()
                > operations / 10
        );
        assert!(resyncs > 0, "no device was told to read again");
        assert!(mix.get("permission reload").is_some_and(|n| *n >= 2));
        assert_eq!(total_differences, 0, "{backend:?}");
        server.stop().await;
    }
}
