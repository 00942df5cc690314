//! Edge and hub as two real syncgate processes on 127.0.0.1 (the edge on SQLite; the hub on
//! SQLite and on PostgreSQL): the outbox drained once the hub is back, a `kill -9` mid-drain,
//! retries that run out and the retry endpoint, full and incremental snapshots, and branch
//! scoping across the two tiers.

mod common;

use common::process::{Gateway, free_port};
use common::{
    API, Backend, Sandbox, TEST_SECRET, admin, backends, clerk, insert_item, token, token_with,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Waits until `check` holds, polling.
async fn eventually<F, Fut>(what: &str, seconds: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Pair {
    hub: Gateway,
    edge: Gateway,
    hub_sandbox: Sandbox,
    _edge_sandbox: Sandbox,
}

/// A hub on `backend` (not started) and an edge on SQLite (not started) pointing at it. The
/// edge acts at the hub as a branch-1 clerk.
async fn pair(backend: Backend, drain: &str) -> Pair {
    let edge_token = token_with(
        "edge-1",
        "CLERK",
        Some(json!(1)),
        Default::default(),
        86_400,
    );
    pair_as(backend, drain, &edge_token).await
}

/// The same, with the edge acting at the hub with `edge_token`.
async fn pair_as(backend: Backend, drain: &str, edge_token: &str) -> Pair {
    let hub_sandbox = Sandbox::new(backend).await;
    hub_sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
    let hub_port = free_port();
    let hub = Gateway::new(
        hub_sandbox.write_config("[jobs.maintenance]\nschedule = \"\"\n"),
        hub_port,
    );

    let edge_sandbox = Sandbox::new(Backend::Sqlite).await;
    edge_sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
    let edge_config = format!(
        "[upstream]\nurl = \"http://127.0.0.1:{hub_port}{API}\"\ntoken = \"{edge_token}\"\ndevice_id = \"edge-1\"\n\
         probe_interval = \"200ms\"\ntimeout = \"2s\"\n\n[jobs.drain]\nschedule = \"* * * * * *\"\n{drain}\n\n\
         [jobs.snapshot]\nschedule = \"\"\n\n[jobs.maintenance]\nschedule = \"\"\n"
    );
    let edge = Gateway::new(edge_sandbox.write_config(&edge_config), free_port());
    let _ = TEST_SECRET;
    Pair {
        hub,
        edge,
        hub_sandbox,
        _edge_sandbox: edge_sandbox,
    }
}

async fn pending(edge: &Gateway) -> Value {
    edge.get_as(&admin(), &format!("{API}/sync/pending"))
        .await
        .1
}

async fn hub_rows(hub: &Gateway) -> Vec<Value> {
    let (status, page) = hub
        .get_as(&admin(), &format!("{API}/sync/changes?limit=1000"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["changes"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_made_while_the_hub_is_down_are_drained_when_it_is_back() {
    for backend in backends() {
        let mut pair = pair(backend, "batch_size = 2\nmax_retries = 2\nlease = \"2s\"").await;
        pair.edge.start().await;
        let till = json!({"id": "till-1", "name": "till", "platform": "pos", "app_version": "1"});
        assert_eq!(
            pair.edge
                .post_as(&clerk(1), &format!("{API}/sync/devices"), &till)
                .await
                .0,
            201
        );
        let (status, body) = pair
            .edge
            .push(
                &clerk(1),
                "till-1",
                true,
                json!([insert_item("a"), insert_item("b"), insert_item("c")]),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        // The device's writes wait in the outbox: its status says so.
        let (_, device) = pair
            .edge
            .get_as(&clerk(1), &format!("{API}/sync/devices/till-1"))
            .await;
        assert_eq!(device["outbox_pending"], 3, "{device}");
        assert_eq!(device["sync_status"], "pending", "{device}");
        let counts = pending(&pair.edge).await;
        assert_eq!(
            (counts["pending"].clone(), counts["online"].clone()),
            (json!(3), json!(false)),
            "{counts}"
        );
        let (_, link) = pair
            .edge
            .get_as(&clerk(1), &format!("{API}/sync/upstream/status"))
            .await;
        assert_eq!(
            (link["configured"].clone(), link["online"].clone()),
            (json!(true), json!(false)),
            "{link}"
        );
        // Drain runs fail while the hub is down, but an unreachable hub uses up no tries: after
        // more runs than `max_retries`, every entry still waits as PENDING.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (_, log) = pair
            .edge
            .get_as(&clerk(1), &format!("{API}/sync/log"))
            .await;
        let entries = log["entries"].as_array().unwrap();
        for entry in entries {
            assert_eq!(entry["status"], "PENDING", "{backend:?}: {log}");
            assert_eq!(entry["attempts"], 0, "{backend:?}: {log}");
        }
        // The first batch was tried (a run stops at an unreachable hub) and says why it waits.
        let tried = entries
            .iter()
            .filter(|e| {
                e["last_error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("cannot be reached")
            })
            .count();
        assert_eq!(tried, 2, "{backend:?}: {log}");

        pair.hub.start().await;
        eventually("the edge sees the hub online", 10, || async {
            pending(&pair.edge).await["online"] == true
        })
        .await;
        eventually("the outbox drains", 30, || async {
            pending(&pair.edge).await["synced"] == 3
        })
        .await;
        let rows = hub_rows(&pair.hub).await;
        let keys: Vec<&str> = rows.iter().map(|c| c["key"].as_str().unwrap()).collect();
        assert_eq!(keys, ["a", "b", "c"], "{backend:?}");
        assert!(rows.iter().all(|c| c["row"]["branch_id"] == 1));
        let (_, log) = pair
            .edge
            .get_as(&clerk(1), &format!("{API}/sync/log?status=synced"))
            .await;
        assert_eq!(log["entries"].as_array().unwrap().len(), 3, "{log}");
        // Another user of the edge sees only its own entries.
        let (_, theirs) = pair
            .edge
            .get_as(
                &token("someone", "CLERK", Some(json!(1))),
                &format!("{API}/sync/pending"),
            )
            .await;
        assert_eq!(theirs["synced"], 0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_edge_resumes_and_the_hub_applies_each_write_once() {
    for backend in backends() {
        let mut pair = pair(backend, "batch_size = 2\nmax_retries = 20\nlease = \"1s\"").await;
        pair.edge.start().await;
        let ops: Vec<Value> = (0..300).map(|i| insert_item(&format!("r{i:03}"))).collect();
        let (status, body) = pair.edge.push(&clerk(1), "till-1", true, json!(ops)).await;
        assert_eq!(status, 200, "{body}");
        pair.hub.start().await;
        eventually("the drain starts", 30, || async {
            !hub_rows(&pair.hub).await.is_empty()
        })
        .await;
        pair.edge.kill(); // kill -9: no chance to finish the batch in flight
        let before = hub_rows(&pair.hub).await.len();
        assert!(
            before < 300,
            "{backend:?}: the drain was not interrupted ({before} of 300)"
        );
        pair.edge.start().await;
        eventually("every entry is synced", 90, || async {
            pending(&pair.edge).await["synced"] == 300
        })
        .await;
        let rows = hub_rows(&pair.hub).await;
        assert_eq!(rows.len(), 300, "{backend:?}");
        assert!(
            rows.iter().all(|c| c["version"] == 1),
            "{backend:?}: a write was applied twice: {rows:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_that_keep_failing_end_in_error_and_can_be_retried() {
    for backend in backends() {
        let mut pair = pair(backend, "batch_size = 10\nmax_retries = 2\nlease = \"2s\"").await;
        // The hub fails every write to `items` (a broken hook) until it is fixed.
        let mut schema = common::SYNC_SCHEMA.replace(
            "[tables.items]\nbranch_column",
            "[tables.items]\nhooks = [\"gate\"]\nbranch_column",
        );
        schema.push('\n');
        pair.hub_sandbox.write_schema("sync.toml", &schema);
        std::fs::write(
            pair.hub_sandbox.path().join("plugins/gate.rhai"),
            "fn validate(op, ctx) { let x = 1 / 0; }\n",
        )
        .unwrap();
        pair.hub.start().await;
        pair.edge.start().await;
        pair.edge
            .push(&clerk(1), "till-1", true, json!([insert_item("x")]))
            .await;
        eventually("the entry fails for good", 30, || async {
            pending(&pair.edge).await["error"] == 1
        })
        .await;
        let (_, log) = pair
            .edge
            .get_as(&clerk(1), &format!("{API}/sync/log?status=ERROR"))
            .await;
        let entry = &log["entries"][0];
        assert_eq!(entry["attempts"], 2, "{backend:?}: {log}");
        assert!(
            entry["last_error"]
                .as_str()
                .unwrap()
                .contains("hook `gate` failed"),
            "{log}"
        );

        // Fixed at the hub (reloaded without a restart), then re-queued at the edge.
        std::fs::write(
            pair.hub_sandbox.path().join("plugins/gate.rhai"),
            "fn validate(op, ctx) { }\n",
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await;
        let (status, answer) = pair
            .edge
            .post_as(&clerk(1), &format!("{API}/sync/log/retry"), &json!({}))
            .await;
        assert_eq!(
            (status, answer["requeued"].clone()),
            (200, json!(1)),
            "{answer}"
        );
        eventually("the retried entry syncs", 30, || async {
            pending(&pair.edge).await["synced"] == 1
        })
        .await;
        assert_eq!(hub_rows(&pair.hub).await.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_pull_the_branch_from_the_hub_fully_and_incrementally() {
    for backend in backends() {
        let mut pair = pair(backend, "max_retries = 3").await;
        pair.hub.start().await;
        let rows = |branch: i64, ids: &[&str]| -> Value {
            ids.iter()
                .map(|id| json!({"table": "items", "action": "upsert", "data": {"id": id, "name": id, "branch_id": branch}}))
                .collect()
        };
        pair.hub
            .push(&admin(), "till-1", true, rows(1, &["h1", "h2"]))
            .await;
        pair.hub
            .push(&admin(), "till-1", true, rows(2, &["other"]))
            .await;
        pair.edge.start().await;
        eventually("online", 10, || async {
            pending(&pair.edge).await["online"] == true
        })
        .await;

        let (status, body) = pair
            .edge
            .post_as(
                &admin(),
                &format!("{API}/sync/snapshot?full=true"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 400, "a caller without a branch: {body}");
        let (status, status_body) = pair
            .edge
            .get_as(&admin(), &format!("{API}/sync/snapshot/status"))
            .await;
        assert_eq!(status, 400, "{status_body}");

        let (status, body) = pair
            .edge
            .post_as(
                &clerk(1),
                &format!("{API}/sync/snapshot?full=true"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(
            body["counts"]["items"], 2,
            "only branch 1 comes down: {body}"
        );
        let (_, local) = pair
            .edge
            .get_as(&clerk(1), &format!("{API}/sync/changes"))
            .await;
        assert_eq!(local["changes"].as_array().unwrap().len(), 2);
        assert_eq!(
            pending(&pair.edge).await["pending"],
            0,
            "pulled rows are not queued back"
        );

        pair.hub.push(&admin(), "till-1", true, json!([{"table": "items", "action": "update", "data": {"id": "h1", "name": "renamed"}}])).await;
        pair.hub
            .push(&admin(), "till-1", true, rows(1, &["h3"]))
            .await;
        let (_, body) = pair
            .edge
            .post_as(&clerk(1), &format!("{API}/sync/snapshot"), &json!({}))
            .await;
        assert_eq!(
            body["counts"]["items"], 2,
            "incremental: only what changed: {body}"
        );
        let (_, row) = pair
            .edge
            .get_as(&clerk(1), &format!("{API}/tables/items/rows/h1"))
            .await;
        assert_eq!(row["name"], "renamed");
        let (_, state) = pair
            .edge
            .get_as(&clerk(1), &format!("{API}/sync/snapshot/status"))
            .await;
        assert!(state["last_snapshot"].is_string(), "{state}");
        assert_eq!(
            (state["branch"].clone(), state["online"].clone()),
            (json!("1"), json!(true))
        );

        // A row that leaves the edge's view at the hub leaves the edge, and the edge's devices
        // get its deletion.
        let (_, before) = pair
            .edge
            .get_as(&clerk(1), &format!("{API}/sync/changes"))
            .await;
        let device_cursor = before["cursor"].as_str().unwrap().to_string();
        pair.hub.push(&admin(), "till-1", true, json!([{"table": "items", "action": "update", "data": {"id": "h2", "branch_id": 2}}])).await;
        let (status, body) = pair
            .edge
            .post_as(&clerk(1), &format!("{API}/sync/snapshot"), &json!({}))
            .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        let (status, _) = pair
            .edge
            .get_as(&clerk(1), &format!("{API}/tables/items/rows/h2"))
            .await;
        assert_eq!(
            status, 404,
            "{backend:?}: the moved row is gone from the edge"
        );
        let (_, after) = pair
            .edge
            .get_as(
                &clerk(1),
                &format!("{API}/sync/changes?cursor={device_cursor}"),
            )
            .await;
        let gone: Vec<&Value> = after["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|change| change["key"] == "h2")
            .collect();
        assert!(
            gone.len() == 1 && gone[0]["deleted"] == true,
            "{backend:?}: {after}"
        );

        // A local write not yet drained is not overwritten by a snapshot (items is server_wins:
        // the hub's row replaces it and the pending write becomes CONFLICT).
        pair.hub.kill();
        eventually("offline", 10, || async {
            pending(&pair.edge).await["online"] == false
        })
        .await;
        let (status, body) = pair
            .edge
            .post_as(&clerk(1), &format!("{API}/sync/snapshot"), &json!({}))
            .await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "hub_unreachable");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edge_serving_several_branches_snapshots_each_branch_on_its_own() {
    for backend in backends() {
        let shared = token_with("edge-shared", "ADMIN", None, Default::default(), 86_400);
        let mut pair = pair_as(backend, "max_retries = 3", &shared).await;
        pair.hub.start().await;
        let upsert = |branch: i64, id: &str| json!([{"table": "items", "action": "upsert", "data": {"id": id, "name": id, "branch_id": branch}}]);
        for (branch, id) in [(1, "one-a"), (1, "one-b"), (2, "two-a")] {
            pair.hub
                .push(&admin(), "hq", true, upsert(branch, id))
                .await;
        }
        pair.edge.start().await;
        eventually("online", 10, || async {
            pending(&pair.edge).await["online"] == true
        })
        .await;
        let snapshot = |who: String, query: &'static str| {
            let edge = &pair.edge;
            async move {
                edge.post_as(&who, &format!("{API}/sync/snapshot{query}"), &json!({}))
                    .await
            }
        };
        let last = |who: String| {
            let edge = &pair.edge;
            async move {
                let (status, body) = edge
                    .get_as(&who, &format!("{API}/sync/snapshot/status"))
                    .await;
                assert_eq!(status, 200, "{body}");
                body["last_snapshot"].clone()
            }
        };

        // Branch 1's full snapshot brings branch 1 alone, and only branch 1 has a snapshot.
        let (status, body) = snapshot(clerk(1), "?full=true").await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(
            body["counts"]["items"], 2,
            "{backend:?}: branch 1 only: {body}"
        );
        assert!(last(clerk(1)).await.is_string());
        assert!(
            last(clerk(2)).await.is_null(),
            "branch 2 has no snapshot yet"
        );
        let (status, _) = pair
            .edge
            .get_as(&admin(), &format!("{API}/tables/items/rows/two-a"))
            .await;
        assert_eq!(
            status, 404,
            "branch 2's row did not come down with branch 1's"
        );

        // Branch 2's incremental snapshot starts from its own beginning.
        let (_, body) = snapshot(clerk(2), "").await;
        assert_eq!(body["counts"]["items"], 1, "{backend:?}: {body}");
        assert!(last(clerk(2)).await.is_string());

        // A change in branch 2 is branch 2's: branch 1's next snapshot brings nothing.
        pair.hub
            .push(&admin(), "hq", true, upsert(2, "two-b"))
            .await;
        let (_, body) = snapshot(clerk(1), "").await;
        assert_eq!(body["counts"], json!({}), "{backend:?}: {body}");
        let (_, body) = snapshot(clerk(2), "").await;
        assert_eq!(body["counts"]["items"], 1, "{backend:?}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hub_narrows_a_feed_to_a_branch_only_where_the_scope_allows() {
    for backend in backends() {
        let (_sandbox, hub) = common::sync_server(backend).await;
        let rows = json!([
            {"table": "items", "action": "insert", "data": {"id": "a", "name": "a", "branch_id": 1}},
            {"table": "items", "action": "insert", "data": {"id": "b", "name": "b", "branch_id": 2}},
        ]);
        assert_eq!(hub.push(&admin(), "hq", true, rows).await.0, 200);
        let keys = |page: &Value| -> Vec<Value> {
            page["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["key"].clone())
                .collect()
        };
        let (status, page) = hub
            .get_as(&admin(), &format!("{API}/sync/changes?branch=2"))
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(keys(&page), [json!("b")], "ADMIN narrowed to branch 2");
        // A cursor of the narrowed view is not one of the whole view.
        let cursor = page["cursor"].as_str().unwrap().to_string();
        let (status, body) = hub
            .get_as(&admin(), &format!("{API}/sync/changes?cursor={cursor}"))
            .await;
        assert_eq!(status, 409, "{body}");
        let (status, page) = hub
            .get_as(&clerk(1), &format!("{API}/sync/changes?branch=1"))
            .await;
        assert_eq!(
            (status, keys(&page)),
            (200, vec![json!("a")]),
            "its own branch"
        );
        let (status, body) = hub
            .get_as(&clerk(1), &format!("{API}/sync/changes?branch=2"))
            .await;
        assert_eq!(status, 403, "another branch: {body}");
        assert!(!body.to_string().contains("\"b\""), "{body}");
        let inspector = common::token("i", "INSPECTOR", None);
        let (status, body) = hub
            .get_as(&inspector, &format!("{API}/sync/changes?branch=1"))
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["details"]["field"], "branch", "{body}");
        hub.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hub_scopes_what_an_edge_may_push() {
    let mut pair = pair(Backend::Sqlite, "batch_size = 10\nmax_retries = 1").await;
    pair.hub.start().await;
    pair.edge.start().await;
    // An edge admin writes a row of branch 2; the edge's hub token is for branch 1.
    let (status, _) = pair.edge.push(&admin(), "till-1", true, json!([{"table": "items", "action": "insert", "data": {"id": "b2", "name": "x", "branch_id": 2}}])).await;
    assert_eq!(status, 200);
    eventually("the hub refuses it", 30, || async {
        pending(&pair.edge).await["error"] == 1
    })
    .await;
    let (_, log) = pair
        .edge
        .get_as(&admin(), &format!("{API}/sync/log?status=ERROR"))
        .await;
    assert!(
        log["entries"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("outside your scope"),
        "{log}"
    );
    assert!(hub_rows(&pair.hub).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_resolved_on_the_edge_reaches_the_hub() {
    for backend in backends() {
        let mut pair = pair(backend, "batch_size = 50\nmax_retries = 20\nlease = \"2s\"").await;
        pair.hub.start().await;
        pair.edge.start().await;
        let write = |body: &str, base: Option<i64>| json!([{"table": "t_manual", "action": "upsert", "data": {"id": "m", "body": body}, "base_version": base}]);
        assert_eq!(
            pair.edge
                .push(&clerk(1), "till-1", true, write("first", None))
                .await
                .0,
            200
        );
        assert_eq!(
            pair.edge
                .push(&clerk(1), "till-1", true, write("second", Some(1)))
                .await
                .0,
            200
        );
        let (_, body) = pair
            .edge
            .push(&clerk(1), "till-1", true, write("mine", Some(1)))
            .await;
        let id = body["conflicts"][0]["conflict"]["conflict_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("{backend:?}: no conflict queued: {body}"));
        let (status, body) = pair
            .edge
            .post_as(
                &clerk(1),
                &format!("{API}/sync/conflicts/{id}/resolve"),
                &json!({"resolution": "use_local"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["row"]["body"], "mine");
        eventually("the resolution reaches the hub", 30, || async {
            hub_rows(&pair.hub)
                .await
                .iter()
                .any(|c| c["key"] == "m" && c["row"]["body"] == "mine")
        })
        .await;
        assert_eq!(pending(&pair.edge).await["pending"], 0, "{backend:?}");
    }
}

/// An edge on SQLite (not started) draining into the hub on `hub_port`, acting there as a
/// clerk of `branch`.
async fn edge_for(hub_port: u16, branch: i64, drain: &str) -> (Gateway, Sandbox) {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
    let edge_token = token_with(
        &format!("edge-{branch}"),
        "CLERK",
        Some(json!(branch)),
        Default::default(),
        86_400,
    );
    let config = format!(
        "[upstream]\nurl = \"http://127.0.0.1:{hub_port}{API}\"\ntoken = \"{edge_token}\"\ndevice_id = \"edge-{branch}\"\n\
         probe_interval = \"200ms\"\ntimeout = \"2s\"\n\n[jobs.drain]\nschedule = \"* * * * * *\"\n{drain}\n\n\
         [jobs.snapshot]\nschedule = \"\"\n\n[jobs.maintenance]\nschedule = \"\"\n"
    );
    (
        Gateway::new(sandbox.write_config(&config), free_port()),
        sandbox,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hub_replicas_on_one_postgresql_take_two_edges_and_survive_a_kill() {
    if !backends().contains(&Backend::Postgres) {
        eprintln!("SGTEST_POSTGRES_URL is not set: the two-replica test needs PostgreSQL");
        return;
    }
    let hub_sandbox = Sandbox::new(Backend::Postgres).await;
    hub_sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
    // Both replicas run the maintenance job every second: the lease lets one run it at a time.
    let hub_config = hub_sandbox.write_config("[jobs.maintenance]\nschedule = \"* * * * * *\"\n");
    let (port_a, port_b) = (free_port(), free_port());
    let mut hub_a = Gateway::new(hub_config.clone(), port_a);
    let mut hub_b = Gateway::new(hub_config, port_b);
    hub_a.start().await;
    hub_b.start().await;
    let drain = "batch_size = 5\nmax_retries = 50\nlease = \"1s\"";
    let (mut edge_1, _s1) = edge_for(port_a, 1, drain).await;
    let (mut edge_2, _s2) = edge_for(port_b, 2, drain).await;
    edge_1.start().await;
    edge_2.start().await;
    let rows = |prefix: &str| -> Vec<Value> {
        (0..200)
            .map(|i| insert_item(&format!("{prefix}{i:03}")))
            .collect()
    };
    assert_eq!(
        edge_1
            .push(&clerk(1), "till-1", true, json!(rows("a")))
            .await
            .0,
        200
    );
    assert_eq!(
        edge_2
            .push(&clerk(2), "till-1", true, json!(rows("b")))
            .await
            .0,
        200
    );
    eventually("both edges drain", 30, || async {
        let (_, page) = hub_b
            .get_as(&admin(), &format!("{API}/sync/changes?limit=1000"))
            .await;
        let changes = page["changes"].as_array().cloned().unwrap_or_default();
        changes.iter().any(|c| c["row"]["branch_id"] == 1)
            && changes.iter().any(|c| c["row"]["branch_id"] == 2)
    })
    .await;
    hub_a.kill(); // kill -9 mid-batch
    tokio::time::sleep(Duration::from_millis(500)).await;
    hub_a.start().await;
    for edge in [&edge_1, &edge_2] {
        eventually("every entry is synced", 90, || async {
            pending(edge).await["synced"] == 200
        })
        .await;
    }
    let all = hub_rows(&hub_a).await;
    assert_eq!(all.len(), 400, "every row arrives");
    assert!(
        all.iter().all(|c| c["version"] == 1),
        "a write was applied twice: {all:?}"
    );
    // The replicas share the maintenance job through its lease, without failing it. A lease the
    // killed hub held mid-run expires after `jobs::JOB_LEASE` (30 s); then a replica takes it.
    eventually("a replica runs the maintenance job", 45, || async {
        let mut ran = false;
        for hub in [&hub_a, &hub_b] {
            let (_, health) = hub.get_as(&admin(), "/health").await;
            let job = &health["jobs"]["maintenance"];
            assert_ne!(job["ok"], false, "{health}");
            ran |= job["ok"] == true;
        }
        ran
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_a_local_program_writes_into_the_edge_database_reach_the_hub() {
    for backend in backends() {
        let mut pair = pair(backend, "").await;
        pair.hub.start().await;
        pair.edge.start().await;
        // The till writes its local database itself, as seed 000's point-of-sale app does.
        let file = pair
            ._edge_sandbox
            .database_url
            .trim_start_matches("sqlite://")
            .to_string();
        let output = std::process::Command::new("sqlite3")
            .args(["-bail", "-cmd", ".timeout 30000", &file])
            .arg(
                "INSERT INTO items (id, branch_id, name) VALUES ('till-1', 1, 'sold'), \
                 ('till-2', 1, 'sold'); UPDATE items SET name = 'returned' WHERE id = 'till-2';",
            )
            .output()
            .expect("sqlite3");
        assert!(output.status.success(), "{output:?}");
        eventually("the hub has the till's rows", 30, || async {
            let rows = hub_rows(&pair.hub).await;
            let name = |id: &str| {
                rows.iter()
                    .find(|change| change["key"] == json!(id))
                    .map(|change| change["row"]["name"].clone())
            };
            name("till-1") == Some(json!("sold")) && name("till-2") == Some(json!("returned"))
        })
        .await;
        // Declared defaults were filled in for the columns the till left out.
        let rows = hub_rows(&pair.hub).await;
        let till = rows.iter().find(|c| c["key"] == json!("till-1")).unwrap();
        assert_eq!(till["row"]["qty"], json!(0), "{backend:?}: {till}");
    }
}
