//! The scope matrix: for a schema with every kind of scope rule (all, branch, owner, owner with
//! assignees, claim, shared), every role's user tries to read and write the rows of another user of the same role
//! through every endpoint that reads or writes rows — generic and per-table push, changes, pull,
//! single rows, the conflict queue and its resolution, files, devices and op-id replays — and
//! every attempt that reveals or changes the other user's data counts as a leak. There must be
//! none, on SQLite and PostgreSQL.
//!
//! The move cases: a row the admin moves out of its user's scope (to another branch, owner,
//! region, off a crew, or under a job of another owner) leaves that user a removal without the
//! row's new values, and no way to read, write, replay, resolve or attach to it again.

mod common;

use common::*;
use serde_json::{Value, json};

const SCHEMA: &str = r#"
[roles.ADMIN]
scope = "all"
[roles.CLERK]
scope = "branch"
[roles.OWNER]
scope = "owner"
[roles.REGION]
scope = { column = "region", claim = "region" }

[tables.stock]
branch_column = "branch_id"
conflict = "manual"
permissions = { ADMIN = "crud", CLERK = "crud" }
[tables.stock.columns]
id = { type = "text" }
branch_id = { type = "integer" }
secret = { type = "text" }
doc = { type = "file", nullable = true }

[tables.notes]
owner_column = "owner"
conflict = "manual"
permissions = { ADMIN = "crud", OWNER = "crud" }
[tables.notes.columns]
id = { type = "text" }
owner = { type = "text" }
secret = { type = "text" }
doc = { type = "file", nullable = true }

# An owner scope that also admits the subjects listed in `crew` (here someone else: erin).
[tables.jobs]
owner_column = "owner"
assignees_column = "crew"
conflict = "manual"
permissions = { ADMIN = "crud", OWNER = "crud" }
[tables.jobs.columns]
id = { type = "text" }
owner = { type = "text" }
crew = { type = "json", default = ["erin"] }
secret = { type = "text" }
doc = { type = "file", nullable = true }

[tables.sites]
conflict = "manual"
permissions = { ADMIN = "crud", REGION = "crud" }
[tables.sites.columns]
id = { type = "text" }
region = { type = "text" }
secret = { type = "text" }
doc = { type = "file", nullable = true }

# Scoped through a job: whoever reaches the job reaches its visits.
[tables.visits]
scope_from = { column = "job_id", table = "jobs" }
conflict = "manual"
permissions = { ADMIN = "crud", OWNER = "crud" }
[tables.visits.columns]
id = { type = "text" }
job_id = { type = "text" }
secret = { type = "text" }
doc = { type = "file", nullable = true }

[tables.catalog]
shared = true
permissions = { ADMIN = "crud", CLERK = "r", OWNER = "r", REGION = "r" }
[tables.catalog.columns]
id = { type = "text" }
label = { type = "text" }
"#;

/// A user of a scoped role, and the table its scope applies to.
struct Actor {
    name: &'static str,
    token: String,
    table: &'static str,
    /// The scope column and this user's value in it.
    scope: (&'static str, Value),
}

fn actors() -> Vec<Actor> {
    let region = |sub: &str, region: &str| {
        let mut claims = serde_json::Map::new();
        claims.insert("region".into(), json!(region));
        token_with(sub, "REGION", None, claims, 3600)
    };
    vec![
        Actor {
            name: "clerk-1",
            token: token("clerk-1", "CLERK", Some(json!(1))),
            table: "stock",
            scope: ("branch_id", json!(1)),
        },
        Actor {
            name: "clerk-2",
            token: token("clerk-2", "CLERK", Some(json!(2))),
            table: "stock",
            scope: ("branch_id", json!(2)),
        },
        Actor {
            name: "alice",
            token: token("alice", "OWNER", None),
            table: "notes",
            scope: ("owner", json!("alice")),
        },
        Actor {
            name: "bob",
            token: token("bob", "OWNER", None),
            table: "notes",
            scope: ("owner", json!("bob")),
        },
        Actor {
            name: "carol",
            token: token("carol", "OWNER", None),
            table: "jobs",
            scope: ("owner", json!("carol")),
        },
        Actor {
            name: "dave",
            token: token("dave", "OWNER", None),
            table: "jobs",
            scope: ("owner", json!("dave")),
        },
        Actor {
            name: "north",
            token: region("north", "north"),
            table: "sites",
            scope: ("region", json!("north")),
        },
        Actor {
            name: "south",
            token: region("south", "south"),
            table: "sites",
            scope: ("region", json!("south")),
        },
    ]
}

/// What the attacker must never see: the victim's marker.
fn marker(victim: &Actor) -> String {
    format!("secret-of-{}", victim.name)
}

async fn upload(server: &TestServer, token: &str, table: &str, row: &str) -> (u16, Value) {
    let form = reqwest::multipart::Form::new()
        .text("table", table.to_string())
        .text("row", row.to_string())
        .text("field", "doc")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"private bytes".to_vec()).file_name("d.txt"),
        );
    let response = server
        .client
        .post(server.url(&format!("{API}/sync/files")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// The victim's world: a row, a conflict on it, a file attached, a device and an op id.
struct Victim {
    key: String,
    conflict_id: i64,
    file_id: String,
    device: String,
}

async fn seed(server: &TestServer, victim: &Actor) -> Victim {
    let key = format!("{}-row", victim.name);
    let device = format!("{}-device", victim.name);
    let (status, body) = server
        .post_as(
            &victim.token,
            &format!("{API}/sync/devices"),
            &json!({"id": device, "name": "d", "platform": "web", "app_version": "1"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut data = json!({"id": key, "secret": marker(victim)});
    data[victim.scope.0] = victim.scope.1.clone();
    let (status, body) = server
        .push(
            &victim.token,
            &device,
            true,
            json!([{"op_id": "op-1", "table": victim.table, "action": "insert", "data": data}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = upload(server, &victim.token, victim.table, &key).await;
    assert_eq!(status, 201, "{body}");
    let file_id = body["attachment_id"].as_str().unwrap().to_string();
    // Version 2 (the file); a write based on version 1 conflicts and is queued.
    let (_, body) = server
        .push(&victim.token, &device, true, json!([{"op_id": "op-2", "table": victim.table, "action": "update", "data": {"id": key, "secret": marker(victim)}, "base_version": 1}]))
        .await;
    let conflict_id = body["conflicts"][0]["conflict"]["conflict_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no conflict queued: {body}"));
    Victim {
        key,
        conflict_id,
        file_id,
        device,
    }
}

#[derive(Default)]
struct Tally {
    attempts: usize,
    leaks: Vec<String>,
}

impl Tally {
    fn read(&mut self, what: &str, body: &str, secret: &str) {
        self.attempts += 1;
        if body.contains(secret) || body.contains("private bytes") {
            self.leaks
                .push(format!("{what}: {}", &body[..body.len().min(300)]));
        }
    }

    fn write(&mut self, what: &str, changed: bool) {
        self.attempts += 1;
        if changed {
            self.leaks
                .push(format!("{what}: the victim's data changed"));
        }
    }
}

async fn text(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> String {
    let mut request = server
        .client
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    format!(
        "{} {}",
        response.status(),
        response.text().await.unwrap_or_default()
    )
}

/// The victim's row and open conflicts as the admin sees them.
async fn state_of(server: &TestServer, victim: &Actor, seeded: &Victim) -> String {
    let (_, row) = server
        .get_as(
            &admin(),
            &format!("{API}/tables/{}/rows/{}", victim.table, seeded.key),
        )
        .await;
    let (_, conflicts) = server
        .get_as(&admin(), &format!("{API}/sync/conflicts"))
        .await;
    let (_, device) = server
        .get_as(&admin(), &format!("{API}/sync/devices/{}", seeded.device))
        .await;
    format!(
        "{row} {conflicts} {} {}",
        device["acked_cursor"], device["name"]
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn no_role_reads_or_writes_another_scope_through_any_endpoint() {
    use reqwest::Method;
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("matrix.toml", SCHEMA);
        let server = TestServer::start(sandbox.config()).await;
        let (status, body) = server
            .push(&admin(), "a", true, json!([{"table": "catalog", "action": "insert", "data": {"id": "c", "label": "for everyone"}}]))
            .await;
        assert_eq!(status, 200, "{body}");
        let mut tally = Tally::default();
        let actors = actors();
        let mut seeded_all = Vec::new();
        for victim in &actors {
            seeded_all.push(seed(&server, victim).await);
        }
        // Every user against every other user: same role, other scope; other roles, other
        // tables.
        for (victim, seeded) in actors.iter().zip(&seeded_all) {
            for attacker in actors.iter().filter(|a| a.name != victim.name) {
                let before = state_of(&server, victim, seeded).await;
                let secret = marker(victim);
                let a = &attacker.token;
                let t = victim.table;
                let k = &seeded.key;

                // Reads.
                for path in [
                    format!("{API}/sync/changes?limit=1000"),
                    format!("{API}/tables/{t}/changes?limit=1000"),
                    format!("{API}/tables/{t}/rows/{k}"),
                    format!("{API}/sync/conflicts"),
                    format!("{API}/sync/download/{}", seeded.file_id),
                    format!("{API}/sync/devices/{}", seeded.device),
                    format!("{API}/sync/devices"),
                    format!("{API}/sync/status?check_conflicts=true"),
                ] {
                    let body = text(&server, a, Method::GET, &path, None).await;
                    tally.read(&format!("{} GET {path}", attacker.name), &body, &secret);
                }
                for tables in [json!(null), json!([t]), json!([t, t, "catalog"])] {
                    let body = text(
                        &server,
                        a,
                        Method::POST,
                        &format!("{API}/sync/pull"),
                        Some(json!({"tables": tables})),
                    )
                    .await;
                    tally.read(&format!("{} pull {tables}", attacker.name), &body, &secret);
                }
                // Replays of the victim's op ids, with the victim's device id.
                for op in ["op-1", "op-2"] {
                    let mut data = json!({"id": k, "secret": secret});
                    data[attacker.scope.0] = attacker.scope.1.clone();
                    let body = text(&server, a, Method::POST, &format!("{API}/sync/push"), Some(json!({"device_id": seeded.device, "operations": [{"op_id": op, "table": t, "action": "insert", "data": data}]}))).await;
                    // The attacker sent the marker itself: only the victim's own row counts.
                    let leaked =
                        body.contains(&format!("\"{}\":{}", victim.scope.0, victim.scope.1));
                    tally.write(&format!("{} replay {op}", attacker.name), leaked);
                }

                // Writes, through the generic and the per-table push.
                let victim_value = victim.scope.1.clone();
                let scope_column = victim.scope.0;
                for (action, data) in [
                    ("update", json!({"id": k, "secret": "overwritten"})),
                    ("upsert", json!({"id": k, "secret": "overwritten"})),
                    ("insert", json!({"id": k, "secret": "overwritten"})),
                    ("delete", json!({"id": k})),
                    (
                        "insert",
                        json!({"id": "planted", "secret": "planted", scope_column: victim_value}),
                    ),
                ] {
                    for atomic in [true, false] {
                        let op = json!({"op_id": format!("w-{action}-{atomic}-{}", tally.attempts), "action": action, "data": data});
                        let mut generic = op.clone();
                        generic["table"] = json!(t);
                        let body = text(&server, a, Method::POST, &format!("{API}/sync/push"), Some(json!({"device_id": "attacker-dev", "atomic": atomic, "operations": [generic]}))).await;
                        tally.read(&format!("{} push {action}", attacker.name), &body, &secret);
                        let body = text(&server, a, Method::POST, &format!("{API}/tables/{t}/push"), Some(json!({"device_id": "attacker-dev", "atomic": atomic, "operations": [op]}))).await;
                        tally.read(
                            &format!("{} table push {action}", attacker.name),
                            &body,
                            &secret,
                        );
                    }
                }
                for resolution in [
                    json!({"resolution": "use_local"}),
                    json!({"resolution": "merged", "data": {"secret": "overwritten"}}),
                ] {
                    let body = text(
                        &server,
                        a,
                        Method::POST,
                        &format!("{API}/sync/conflicts/{}/resolve", seeded.conflict_id),
                        Some(resolution),
                    )
                    .await;
                    tally.read(&format!("{} resolve", attacker.name), &body, &secret);
                }
                let (status, body) = upload(&server, a, t, k).await;
                tally.read(
                    &format!("{} upload", attacker.name),
                    &format!("{status} {body}"),
                    &secret,
                );
                for (method, path, body) in [
                    (
                        Method::POST,
                        format!("{API}/sync/ack"),
                        Some(json!({"device_id": seeded.device, "cursor": "1"})),
                    ),
                    (
                        Method::PUT,
                        format!("{API}/sync/devices/{}", seeded.device),
                        Some(json!({"name": "taken"})),
                    ),
                    (
                        Method::POST,
                        format!("{API}/sync/devices/{}/token", seeded.device),
                        None,
                    ),
                    (
                        Method::DELETE,
                        format!("{API}/sync/devices/{}", seeded.device),
                        None,
                    ),
                ] {
                    let body = text(&server, a, method.clone(), &path, body).await;
                    tally.read(
                        &format!("{} {method} {path}", attacker.name),
                        &body,
                        &secret,
                    );
                }
                let after = state_of(&server, victim, seeded).await;
                tally.write(
                    &format!("{} against {}", attacker.name, victim.name),
                    after != before,
                );
                let (_, planted) = server
                    .get_as(&admin(), &format!("{API}/tables/{t}/rows/planted"))
                    .await;
                tally.write(
                    &format!("{} planted a row in {}'s scope", attacker.name, victim.name),
                    planted["secret"] == "planted",
                );

                // The shared table stays readable for every role that may read it.
                let (status, _) = server
                    .get_as(a, &format!("{API}/tables/catalog/rows/c"))
                    .await;
                assert_eq!(
                    status, 200,
                    "{backend:?}: {} cannot read the shared table",
                    attacker.name
                );
            }
        }
        eprintln!(
            "{backend:?}: {} attempts, {} leaks",
            tally.attempts,
            tally.leaks.len()
        );
        assert!(
            tally.leaks.is_empty(),
            "{backend:?}: leaks:\n{}",
            tally.leaks.join("\n")
        );
        server.stop().await;
    }
}

/// A row its user reaches, then moved away by the admin: `moves` are the admin's writes that do
/// it, after which `new_secret` is in the row.
struct MoveCase {
    user: &'static str,
    token: String,
    table: &'static str,
    key: &'static str,
    /// The user's writes that create the row (the last one writes the row itself).
    setup: Vec<Value>,
    moves: Vec<Value>,
}

fn move_cases() -> Vec<MoveCase> {
    let op = |table: &str, action: &str, data: Value| json!({"table": table, "action": action, "data": data});
    let region = |sub: &str, region: &str| {
        let mut claims = serde_json::Map::new();
        claims.insert("region".into(), json!(region));
        token_with(sub, "REGION", None, claims, 3600)
    };
    let secret = |data: Value| {
        let mut data = data;
        data["secret"] = json!("moved-secret");
        data
    };
    vec![
        MoveCase {
            user: "clerk-1",
            token: token("clerk-1", "CLERK", Some(json!(1))),
            table: "stock",
            key: "m-stock",
            setup: vec![op(
                "stock",
                "insert",
                json!({"id": "m-stock", "branch_id": 1, "secret": "s"}),
            )],
            moves: vec![op(
                "stock",
                "update",
                secret(json!({"id": "m-stock", "branch_id": 2})),
            )],
        },
        MoveCase {
            user: "alice",
            token: token("alice", "OWNER", None),
            table: "notes",
            key: "m-note",
            setup: vec![op(
                "notes",
                "insert",
                json!({"id": "m-note", "owner": "alice", "secret": "s"}),
            )],
            moves: vec![op(
                "notes",
                "update",
                secret(json!({"id": "m-note", "owner": "bob"})),
            )],
        },
        // erin reaches the job through its crew, then is taken off it.
        MoveCase {
            user: "erin",
            token: token("erin", "OWNER", None),
            table: "jobs",
            key: "m-job",
            setup: vec![op(
                "jobs",
                "insert",
                json!({"id": "m-job", "owner": "erin", "crew": [], "secret": "s"}),
            )],
            moves: vec![op(
                "jobs",
                "update",
                secret(json!({"id": "m-job", "owner": "dave", "crew": ["zed"]})),
            )],
        },
        MoveCase {
            user: "north",
            token: region("north", "north"),
            table: "sites",
            key: "m-site",
            setup: vec![op(
                "sites",
                "insert",
                json!({"id": "m-site", "region": "north", "secret": "s"}),
            )],
            moves: vec![op(
                "sites",
                "update",
                secret(json!({"id": "m-site", "region": "south"})),
            )],
        },
        // The visit never changes: its job passes to another owner.
        MoveCase {
            user: "carol",
            token: token("carol", "OWNER", None),
            table: "visits",
            key: "m-visit",
            setup: vec![
                op(
                    "jobs",
                    "insert",
                    json!({"id": "m-job-2", "owner": "carol", "crew": [], "secret": "s"}),
                ),
                op(
                    "visits",
                    "insert",
                    json!({"id": "m-visit", "job_id": "m-job-2", "secret": "s"}),
                ),
            ],
            moves: vec![
                op(
                    "visits",
                    "update",
                    json!({"id": "m-visit", "secret": "moved-secret"}),
                ),
                op("jobs", "update", json!({"id": "m-job-2", "owner": "dave"})),
            ],
        },
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moved_row_is_out_of_reach_of_its_old_scope() {
    use reqwest::Method;
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("matrix.toml", SCHEMA);
        let server = TestServer::start(sandbox.config()).await;
        let mut tally = Tally::default();
        for case in move_cases() {
            let (a, t, k) = (&case.token, case.table, case.key);
            let device = format!("{}-mover", case.user);
            let mut setup = case.setup.clone();
            for (index, op) in setup.iter_mut().enumerate() {
                op["op_id"] = json!(format!("setup-{index}"));
            }
            let (status, body) = server.push(a, &device, true, json!(setup)).await;
            assert_eq!(status, 200, "{backend:?}: {body}");
            let (status, body) = upload(&server, a, t, k).await;
            assert_eq!(status, 201, "{body}");
            let file_id = body["attachment_id"].as_str().unwrap().to_string();
            let stale = json!([{"op_id": "stale", "table": t, "action": "update", "data": {"id": k, "secret": "mine"}, "base_version": 1}]);
            let (_, body) = server.push(a, &device, true, stale).await;
            let conflict_id = body["conflicts"][0]["conflict"]["conflict_id"]
                .as_i64()
                .unwrap_or_else(|| panic!("no conflict queued: {body}"));
            let (_, page) = server
                .get_as(a, &format!("{API}/sync/changes?limit=1000"))
                .await;
            let cursor = page["cursor"].as_str().unwrap().to_string();

            let (status, body) = server
                .push(&admin(), "admin", true, json!(case.moves))
                .await;
            assert_eq!(status, 200, "{body}");
            let before = {
                let (_, row) = server
                    .get_as(&admin(), &format!("{API}/tables/{t}/rows/{k}"))
                    .await;
                let (_, conflicts) = server
                    .get_as(&admin(), &format!("{API}/sync/conflicts"))
                    .await;
                format!("{row} {conflicts}")
            };
            let secret = "moved-secret";

            // The removal: there, once, with the key alone.
            let (_, page) = server
                .get_as(a, &format!("{API}/sync/changes?limit=1000&cursor={cursor}"))
                .await;
            let removals: Vec<&Value> = page["changes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["table"] == t && c["key"] == k)
                .collect();
            tally.write(
                &format!("{}: the move-out is one removal", case.user),
                removals.len() != 1 || removals[0]["removed"] != true,
            );
            tally.read(
                &format!("{} changes after the move", case.user),
                &page.to_string(),
                secret,
            );
            for path in [
                format!("{API}/sync/changes?limit=1000"),
                format!("{API}/tables/{t}/changes?limit=1000&cursor={cursor}"),
                format!("{API}/tables/{t}/rows/{k}"),
                format!("{API}/sync/conflicts"),
                format!("{API}/sync/download/{file_id}"),
            ] {
                let body = text(&server, a, Method::GET, &path, None).await;
                tally.read(&format!("{} GET {path}", case.user), &body, secret);
                if path.contains("/rows/") || path.contains("/download/") {
                    tally.write(
                        &format!("{} GET {path} answered", case.user),
                        !body.starts_with("404"),
                    );
                }
            }
            for body in [
                json!({"tables": [t], "cursor": cursor}),
                json!({"tables": [t]}),
            ] {
                let answer = text(
                    &server,
                    a,
                    Method::POST,
                    &format!("{API}/sync/pull"),
                    Some(body),
                )
                .await;
                tally.read(&format!("{} pull", case.user), &answer, secret);
            }
            // Replays of its own op ids, writes, resolution, upload.
            let mut replays = case.setup.clone();
            for (index, op) in replays.iter_mut().enumerate() {
                op["op_id"] = json!(format!("setup-{index}"));
            }
            let body = text(
                &server,
                a,
                Method::POST,
                &format!("{API}/sync/push"),
                Some(json!({"device_id": device, "operations": replays})),
            )
            .await;
            tally.read(&format!("{} replay", case.user), &body, secret);
            for (action, data) in [
                ("update", json!({"id": k, "secret": "overwritten"})),
                ("upsert", json!({"id": k, "secret": "overwritten"})),
                ("delete", json!({"id": k})),
            ] {
                let op = json!([{"table": t, "action": action, "data": data}]);
                let body = text(
                    &server,
                    a,
                    Method::POST,
                    &format!("{API}/sync/push"),
                    Some(json!({"device_id": device, "operations": op})),
                )
                .await;
                tally.read(&format!("{} push {action}", case.user), &body, secret);
            }
            let body = text(
                &server,
                a,
                Method::POST,
                &format!("{API}/sync/conflicts/{conflict_id}/resolve"),
                Some(json!({"resolution": "use_local"})),
            )
            .await;
            tally.read(&format!("{} resolve", case.user), &body, secret);
            tally.write(
                &format!("{} resolve answered", case.user),
                !body.starts_with("404"),
            );
            let (status, body) = upload(&server, a, t, k).await;
            tally.read(
                &format!("{} upload", case.user),
                &format!("{status} {body}"),
                secret,
            );
            let after = {
                let (_, row) = server
                    .get_as(&admin(), &format!("{API}/tables/{t}/rows/{k}"))
                    .await;
                let (_, conflicts) = server
                    .get_as(&admin(), &format!("{API}/sync/conflicts"))
                    .await;
                format!("{row} {conflicts}")
            };
            tally.write(
                &format!("{}: the moved row or its conflict changed", case.user),
                after != before,
            );
        }
        eprintln!(
            "{backend:?}: {} attempts on moved rows, {} leaks",
            tally.attempts,
            tally.leaks.len()
        );
        assert!(
            tally.leaks.is_empty(),
            "{backend:?}: leaks:\n{}",
            tally.leaks.join("\n")
        );
        server.stop().await;
    }
}
