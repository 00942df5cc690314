//! Rows that leave a reader's view: a write that moves a row out of a reader's scope (branch,
//! owner, assignees, claim rule) sends that reader one removal, in the changes feed, pull and the
//! live stream, carrying none of the row's new values; readers who can read the row after the
//! write get it as an ordinary change; a reader whose own view changed is told to read again;
//! conflicts follow their row's scope — on every backend.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;

const SCHEMA: &str = include_str!("fixtures/views.toml");

async fn server(backend: Backend) -> (Sandbox, TestServer) {
    let sandbox = Sandbox::new(backend).await;
    sandbox.write_schema("views.toml", SCHEMA);
    let server = TestServer::start(sandbox.config()).await;
    (sandbox, server)
}

fn owner(sub: &str) -> String {
    token(sub, "OWNER", None)
}

fn region(value: &str) -> String {
    let mut claims = serde_json::Map::new();
    claims.insert("region".into(), json!(value));
    token_with(&format!("region-{value}"), "REGION", None, claims, 3600)
}

async fn write(server: &Client, table: &str, action: &str, data: Value) {
    let op = operation(None, table, action, data);
    let (status, body) = server
        .push(&admin(), "admin-device", true, json!([op]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"].as_array().unwrap().len(), 1, "{body}");
}

/// One page of changes after `cursor` (status and body).
async fn changes(server: &Client, token: &str, cursor: &str) -> (u16, Value) {
    server
        .get_as(token, &format!("{API}/sync/changes?cursor={cursor}"))
        .await
}

fn entries(page: &Value) -> Vec<Value> {
    page["changes"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_moved_to_another_branch_is_removed_from_the_old_branch_once() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        let product = json!({"id": "p", "branch_id": 1, "secret": "old price"});
        write(&server, "stock", "insert", product).await;
        write(
            &server,
            "stock",
            "insert",
            json!({"id": "q", "branch_id": 1}),
        )
        .await;
        let (_, first) = changes(&server, &clerk(1), "").await;
        assert_eq!(entries(&first).len(), 2);
        let before = first["cursor"].as_str().unwrap().to_string();
        let (_, other) = changes(&server, &clerk(2), "").await;
        assert_eq!(entries(&other), Vec::<Value>::new());
        let other_before = other["cursor"].as_str().unwrap().to_string();

        let moved = json!({"id": "p", "branch_id": 2, "secret": "new price"});
        write(&server, "stock", "update", moved).await;

        // The old branch: one removal, with the key alone.
        let (status, page) = changes(&server, &clerk(1), &before).await;
        assert_eq!(status, 200, "{page}");
        let removal = &entries(&page)[..];
        assert_eq!(removal.len(), 1, "{backend:?}: {page}");
        assert_eq!(removal[0]["key"], "p");
        assert_eq!(removal[0]["removed"], true);
        assert_eq!(removal[0]["deleted"], true);
        assert!(removal[0].get("row").is_none(), "{page}");
        assert!(!page.to_string().contains("new price"), "{page}");
        // Exactly once: nothing more from the cursor after it.
        let after = page["cursor"].as_str().unwrap();
        let (_, again) = changes(&server, &clerk(1), after).await;
        assert_eq!(entries(&again), Vec::<Value>::new(), "{backend:?}");

        // The new branch: an ordinary change (a move-in), though it never saw the row.
        let (_, page) = changes(&server, &clerk(2), &other_before).await;
        let moved_in = &entries(&page)[..];
        assert_eq!(moved_in.len(), 1, "{page}");
        assert_eq!(moved_in[0]["row"]["secret"], "new price");
        assert!(moved_in[0].get("removed").is_none(), "{page}");

        // Pull from the old cursor lists the key as removed, and no row.
        let body = json!({"tables": ["stock"], "cursor": before});
        let (status, pulled) = server
            .post_as(&clerk(1), &format!("{API}/sync/pull"), &body)
            .await;
        assert_eq!(status, 200, "{pulled}");
        assert_eq!(pulled["data"]["stock"], json!([]), "{pulled}");
        assert_eq!(pulled["removed"], json!({"stock": ["p"]}), "{pulled}");
        // A pull from the start lists no removal.
        let body = json!({"tables": ["stock"]});
        let (_, pulled) = server
            .post_as(&clerk(1), &format!("{API}/sync/pull"), &body)
            .await;
        assert_eq!(pulled["removed"], json!({}), "{pulled}");

        // Back to branch 1: an ordinary change there, a removal in branch 2.
        write(
            &server,
            "stock",
            "update",
            json!({"id": "p", "branch_id": 1}),
        )
        .await;
        let (_, page) = changes(&server, &clerk(1), after).await;
        assert_eq!(entries(&page).len(), 1);
        assert_eq!(entries(&page)[0]["row"]["branch_id"], 1, "{page}");
        let (_, page) = changes(&server, &clerk(2), &other_before).await;
        assert_eq!(entries(&page)[0]["removed"], true, "{backend:?}: {page}");

        // A plain delete stays a tombstone for the readers who could read the row.
        let (_, head) = changes(&server, &clerk(1), "").await;
        let head = head["cursor"].as_str().unwrap().to_string();
        write(&server, "stock", "delete", json!({"id": "q"})).await;
        let (_, page) = changes(&server, &clerk(1), &head).await;
        assert_eq!(entries(&page).len(), 1);
        assert_eq!(entries(&page)[0]["deleted"], true);
        assert!(entries(&page)[0].get("removed").is_none(), "{page}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn owner_assignee_and_claim_moves_are_removals_too() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        let job = json!({"id": "j", "owner": "alice", "crew": ["erin"]});
        write(&server, "jobs", "insert", job).await;
        write(&server, "sites", "insert", json!({"id": 1, "region": "eu"})).await;
        let mut cursors = Vec::new();
        for reader in [owner("alice"), owner("erin"), owner("bob"), region("eu")] {
            let (_, page) = changes(&server, &reader, "").await;
            cursors.push(page["cursor"].as_str().unwrap().to_string());
        }

        // erin leaves the crew; the owner passes to bob; the site moves to another region.
        write(&server, "jobs", "update", json!({"id": "j", "crew": []})).await;
        let (_, erin) = changes(&server, &owner("erin"), &cursors[1]).await;
        assert_eq!(entries(&erin)[0]["removed"], true, "{backend:?}: {erin}");
        let (_, alice) = changes(&server, &owner("alice"), &cursors[0]).await;
        assert!(entries(&alice)[0].get("removed").is_none(), "{alice}");
        write(
            &server,
            "jobs",
            "update",
            json!({"id": "j", "owner": "bob"}),
        )
        .await;
        let (_, alice) = changes(&server, &owner("alice"), &cursors[0]).await;
        assert_eq!(entries(&alice).len(), 1, "{alice}");
        assert_eq!(entries(&alice)[0]["removed"], true, "{backend:?}: {alice}");
        let (_, bob) = changes(&server, &owner("bob"), &cursors[2]).await;
        assert_eq!(entries(&bob)[0]["row"]["owner"], "bob", "{bob}");
        // erin's removal was sent once, though the row changed again.
        let (_, erin) = changes(&server, &owner("erin"), &cursors[1]).await;
        assert_eq!(entries(&erin).len(), 1, "{erin}");

        write(&server, "sites", "update", json!({"id": 1, "region": "us"})).await;
        let (_, eu) = changes(&server, &region("eu"), &cursors[3]).await;
        assert_eq!(entries(&eu)[0]["removed"], true, "{backend:?}: {eu}");
        assert_eq!(entries(&eu)[0]["key"], 1, "{eu}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_live_stream_sends_a_removal() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        write(
            &server,
            "stock",
            "insert",
            json!({"id": "p", "branch_id": 1}),
        )
        .await;
        let (_, page) = changes(&server, &clerk(1), "").await;
        let cursor = page["cursor"].as_str().unwrap().to_string();
        let response = server
            .client
            .get(server.url(&format!("{API}/sync/stream?cursor={cursor}")))
            .bearer_auth(clerk(1))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.bytes_stream();
        write(
            &server,
            "stock",
            "update",
            json!({"id": "p", "branch_id": 2}),
        )
        .await;
        let mut text = String::new();
        use futures_util::StreamExt;
        while !text.contains("\n\n") || text.trim_start().starts_with(':') {
            let next = tokio::time::timeout(Duration::from_secs(10), body.next()).await;
            let bytes = next.expect("an event").expect("open").unwrap();
            text.push_str(&String::from_utf8_lossy(&bytes));
            if text.starts_with(':') {
                text = text
                    .split_once("\n\n")
                    .map_or(text.clone(), |(_, r)| r.into());
            }
        }
        assert!(text.contains("event: change"), "{text}");
        assert!(text.contains("\"removed\":true"), "{backend:?}: {text}");
        drop(body);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_whose_claims_changed_is_told_which_tables_to_read_again() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        write(
            &server,
            "stock",
            "insert",
            json!({"id": "p", "branch_id": 1}),
        )
        .await;
        write(&server, "prices", "insert", json!({"id": "x"})).await;
        let (_, page) = changes(&server, &clerk(1), "").await;
        let cursor = page["cursor"].as_str().unwrap().to_string();

        // The same user, moved to branch 2 (a new token).
        let moved = token("clerk-1", "CLERK", Some(json!(2)));
        for (status, body) in [
            changes(&server, &moved, &cursor).await,
            server
                .post_as(
                    &moved,
                    &format!("{API}/sync/pull"),
                    &json!({"cursor": cursor}),
                )
                .await,
        ] {
            assert_eq!(status, 409, "{backend:?}: {body}");
            assert_eq!(body["error"]["code"], "resync_required");
            let details = &body["error"]["details"];
            assert_eq!(details["field"], "cursor");
            // The shared price list reads the same: only the branch table, and the counts
            // scoped through it, are read again.
            assert_eq!(details["tables"], json!(["stock", "counts"]), "{body}");
            assert_eq!(details["dropped"], json!([]));
        }
        let (_, refused) = changes(&server, &moved, &cursor).await;
        let go_on = refused["error"]["details"]["cursor"].as_str().unwrap();
        let (status, page) = changes(&server, &moved, go_on).await;
        assert_eq!(status, 200, "the cursor in the details goes on: {page}");
        // The old token still reads as before, and a bare position is taken as it is.
        assert_eq!(changes(&server, &clerk(1), &cursor).await.0, 200);
        let bare = cursor.split('.').next().unwrap();
        assert_eq!(changes(&server, &moved, bare).await.0, 200);
        // The stream refuses the same way.
        let (status, body) = server
            .get_as(&moved, &format!("{API}/sync/stream?cursor={cursor}"))
            .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "resync_required");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_follows_its_row_to_its_new_scope() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        write(
            &server,
            "stock",
            "insert",
            json!({"id": "p", "branch_id": 1}),
        )
        .await;
        write(
            &server,
            "stock",
            "update",
            json!({"id": "p", "secret": "v2"}),
        )
        .await;
        // A clerk's stale update becomes a manual conflict.
        let stale = json!([{"table": "stock", "action": "update", "base_version": 1,
                            "data": {"id": "p", "secret": "mine"}}]);
        let (status, body) = server.push(&clerk(1), "till", true, stale).await;
        assert_eq!(status, 200, "{body}");
        let id = body["conflicts"][0]["conflict"]["conflict_id"].as_i64();
        let id = id.unwrap_or_else(|| panic!("a queued conflict: {body}"));
        write(
            &server,
            "stock",
            "update",
            json!({"id": "p", "branch_id": 2}),
        )
        .await;

        let list = |token: String| {
            let server = &server;
            async move {
                let (_, body) = server
                    .get_as(&token, &format!("{API}/sync/conflicts"))
                    .await;
                body["conflicts"].as_array().unwrap().len()
            }
        };
        assert_eq!(list(clerk(1)).await, 0, "{backend:?}: the old branch");
        assert_eq!(list(clerk(2)).await, 1, "{backend:?}: the new branch");
        let resolve = format!("{API}/sync/conflicts/{id}/resolve");
        let choice = json!({"resolution": "use_server"});
        let (status, _) = server.post_as(&clerk(1), &resolve, &choice).await;
        assert_eq!(status, 404, "{backend:?}: the old branch cannot resolve it");
        let (status, body) = server.post_as(&clerk(2), &resolve, &choice).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_is_delivered_after_a_restart() {
    for backend in backends() {
        let (sandbox, server) = server(backend).await;
        write(
            &server,
            "stock",
            "insert",
            json!({"id": "p", "branch_id": 1}),
        )
        .await;
        let (_, page) = changes(&server, &clerk(1), "").await;
        let cursor = page["cursor"].as_str().unwrap().to_string();
        write(
            &server,
            "stock",
            "update",
            json!({"id": "p", "branch_id": 2}),
        )
        .await;
        server.stop().await;

        let server = TestServer::start(sandbox.config()).await;
        let (status, page) = changes(&server, &clerk(1), &cursor).await;
        assert_eq!(status, 200, "{backend:?}: {page}");
        let removal = entries(&page);
        assert_eq!(removal.len(), 1, "{backend:?}: {page}");
        assert_eq!(
            (&removal[0]["key"], &removal[0]["removed"]),
            (&json!("p"), &json!(true))
        );
        server.stop().await;
    }
}

/// Four writers move rows between branches 1 and 2 at once while a branch-1 reader follows the
/// feed: its copy ends equal to a fresh read (no reader skips a move, on PostgreSQL too).
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_movers_leave_no_reader_behind() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        let ids: Vec<String> = (0..40).map(|i| format!("r{i}")).collect();
        let inserts: Vec<Value> = ids
            .iter()
            .map(|id| json!({"table": "stock", "action": "insert", "data": {"id": id, "branch_id": 1}}))
            .collect();
        let (status, body) = server.push(&admin(), "admin", true, json!(inserts)).await;
        assert_eq!(status, 200, "{body}");
        let mut held = std::collections::BTreeMap::new();
        let mut cursor = String::new();
        let writers: Vec<_> = (0..4)
            .map(|writer| {
                let client = Client::new(server.url(""));
                let ids = ids.clone();
                tokio::spawn(async move {
                    for round in 0..15 {
                        let ops: Vec<Value> = ids
                            .iter()
                            .skip(writer)
                            .step_by(4)
                            .enumerate()
                            .map(|(i, id)| {
                                let branch = 1 + (round + i) % 2;
                                json!({"table": "stock", "action": "update", "data": {"id": id, "branch_id": branch}})
                            })
                            .collect();
                        let (status, body) = client
                            .push(&admin(), &format!("mover-{writer}"), true, json!(ops))
                            .await;
                        assert!(status == 200 || status == 503, "{body}");
                    }
                })
            })
            .collect();
        let mut finished = false;
        while !finished {
            finished = writers.iter().all(|writer| writer.is_finished());
            let (status, page) = changes(&server, &clerk(1), &cursor).await;
            assert_eq!(status, 200, "{page}");
            for change in entries(&page) {
                let key = format!("{}:{}", change["table"], change["key"]);
                if change["deleted"] == true {
                    held.remove(&key);
                } else {
                    held.insert(key, change["row"].clone());
                }
            }
            cursor = page["cursor"].as_str().unwrap().to_string();
        }
        for writer in writers {
            writer.await.unwrap();
        }
        loop {
            let (_, page) = changes(&server, &clerk(1), &cursor).await;
            for change in entries(&page) {
                let key = format!("{}:{}", change["table"], change["key"]);
                if change["deleted"] == true {
                    held.remove(&key);
                } else {
                    held.insert(key, change["row"].clone());
                }
            }
            cursor = page["cursor"].as_str().unwrap().to_string();
            if page["has_more"] == false {
                break;
            }
        }
        let (_, fresh) = server
            .get_as(&clerk(1), &format!("{API}/sync/changes?limit=1000"))
            .await;
        let truth: std::collections::BTreeMap<String, Value> = entries(&fresh)
            .into_iter()
            .map(|change| {
                let key = format!("{}:{}", change["table"], change["key"]);
                (key, change["row"].clone())
            })
            .collect();
        assert_eq!(held, truth, "{backend:?}");
    }
}
