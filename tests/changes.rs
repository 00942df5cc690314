//! The changes feed: order, paging by cursor, compaction, table filters, the long-poll wake-up,
//! and concurrent writers whose changes must all reach a reader — on every backend.

mod common;

use common::{API, admin, all_changes, backends, clerk, insert, insert_item, sync_server};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn pages_follow_the_cursor_and_each_row_appears_once() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let ops: Vec<Value> = (0..5).map(|i| insert_item(&format!("r{i}"))).collect();
        server.push(&clerk(1), "d", true, json!(ops)).await;
        for _ in 0..3 {
            let update =
                json!([{"table": "items", "action": "update", "data": {"id": "r1", "qty": 1}}]);
            server.push(&clerk(1), "d", true, update).await;
        }
        let (status, first) = server
            .get_as(&clerk(1), &format!("{API}/sync/changes?limit=2"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(first["has_more"], true);
        let keys: Vec<&str> = first["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].as_str().unwrap())
            .collect();
        assert_eq!(
            keys,
            ["r0", "r2"],
            "{backend:?}: r1 moved to the end when it changed"
        );
        let cursor = first["cursor"].as_str().unwrap();
        let (_, second) = server
            .get_as(
                &clerk(1),
                &format!("{API}/sync/changes?limit=10&cursor={cursor}"),
            )
            .await;
        let keys: Vec<&str> = second["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["r3", "r4", "r1"]);
        assert_eq!(second["has_more"], false);
        assert_eq!(
            second["changes"][2]["version"], 4,
            "one entry per row, at its latest version"
        );
        let seqs: Vec<i64> = second["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["seq"].as_i64().unwrap())
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));

        // Nothing after the last cursor; the cursor stays usable.
        let cursor = second["cursor"].as_str().unwrap();
        let (_, empty) = server
            .get_as(&clerk(1), &format!("{API}/sync/changes?cursor={cursor}"))
            .await;
        assert_eq!(empty["changes"], json!([]));
        assert_eq!(empty["cursor"], cursor);

        // Bad cursors and limits are refused; limits above 1000 are capped.
        let (status, body) = server
            .get_as(&clerk(1), &format!("{API}/sync/changes?cursor=abc"))
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["details"]["field"], "cursor");
        let (status, _) = server
            .get_as(&clerk(1), &format!("{API}/sync/changes?limit=0"))
            .await;
        assert_eq!(status, 400);
        let (status, _) = server
            .get_as(&clerk(1), &format!("{API}/sync/changes?limit=100000"))
            .await;
        assert_eq!(status, 200);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_filter_the_feed() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        server
            .push(
                &clerk(1),
                "d",
                true,
                json!([
                    insert_item("i1"),
                    insert("t_client", json!({"id": "c1", "body": "c1"})),
                    insert("t_lww", json!({"id": "l1", "body": "l1"}))
                ]),
            )
            .await;
        let tables = |changes: Vec<Value>| -> Vec<String> {
            changes
                .iter()
                .map(|c| c["table"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            tables(all_changes(&server, &clerk(1), "&tables=items,t_lww").await),
            ["items", "t_lww"]
        );
        let (_, typed) = server
            .get_as(&clerk(1), &format!("{API}/tables/t_client/changes"))
            .await;
        assert_eq!(typed["changes"][0]["key"], "c1", "{backend:?}: {typed}");
        assert_eq!(typed["changes"].as_array().unwrap().len(), 1);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_poll_returns_as_soon_as_a_visible_change_commits() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let (_, head) = server
            .get_as(&clerk(1), &format!("{API}/sync/changes"))
            .await;
        let cursor = head["cursor"].as_str().unwrap().to_string();
        let url = server.url(&format!("{API}/sync/changes?wait=30&cursor={cursor}"));
        let client = server.client.clone();
        let token = clerk(1);
        let started = Instant::now();
        let waiting = tokio::spawn(async move {
            let response = client.get(url).bearer_auth(token).send().await.unwrap();
            (started.elapsed(), response.json::<Value>().await.unwrap())
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        // A change in another branch does not answer the waiting clerk of branch 1.
        server
            .push(&clerk(2), "d2", true, json!([insert_item("other")]))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !waiting.is_finished(),
            "{backend:?}: woken by a change it may not see"
        );
        server
            .push(&clerk(1), "d1", true, json!([insert_item("mine")]))
            .await;
        let (elapsed, page) = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(page["changes"][0]["key"], "mine", "{page}");
        assert!(
            elapsed < Duration::from_secs(30),
            "answered before the wait ran out"
        );

        // With nothing to see, the wait ends empty.
        let cursor = page["cursor"].as_str().unwrap();
        let (status, empty) = server
            .get_as(
                &clerk(1),
                &format!("{API}/sync/changes?wait=1&cursor={cursor}"),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(empty["changes"], json!([]));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_never_make_a_reader_skip_a_change() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let server = std::sync::Arc::new(server);
        const WRITERS: usize = 4;
        const PUSHES: usize = 25;
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            let server = server.clone();
            writers.push(tokio::spawn(async move {
                for push in 0..PUSHES {
                    let ops = json!([
                        insert_item(&format!("w{writer}-{push}")),
                        insert_item(&format!("w{writer}-{push}-b"))
                    ]);
                    let (status, body) = server
                        .push(&clerk(1), &format!("dev-{writer}"), true, ops)
                        .await;
                    assert_eq!(status, 200, "{body}");
                }
            }));
        }
        // The reader follows the feed while the writers run, never re-reading what it passed.
        let mut seen = HashSet::new();
        let mut cursor = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.len() < WRITERS * PUSHES * 2 {
            assert!(
                Instant::now() < deadline,
                "{backend:?}: saw {} of {}",
                seen.len(),
                WRITERS * PUSHES * 2
            );
            let (status, page) = server
                .get_as(
                    &admin(),
                    &format!("{API}/sync/changes?limit=7&wait=1&cursor={cursor}"),
                )
                .await;
            assert_eq!(status, 200, "{page}");
            for change in page["changes"].as_array().unwrap() {
                seen.insert(change["key"].as_str().unwrap().to_string());
            }
            cursor = page["cursor"].as_str().unwrap().to_string();
        }
        for writer in writers {
            writer.await.unwrap();
        }
        assert_eq!(seen.len(), WRITERS * PUSHES * 2);
        std::sync::Arc::into_inner(server).unwrap().stop().await;
    }
}
