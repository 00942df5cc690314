//! SQLite: the gateway checkpoints the WAL in a task of its own, not in a writer's commit, and
//! the WAL still starts again from its beginning while writes keep coming (it grew without end
//! when the task only checkpointed beside the writers).

mod common;

use common::{Backend, Client, Sandbox, TestServer, clerk, insert_op};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn the_wal_stays_small_under_a_steady_push() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
    let server = TestServer::start(sandbox.config()).await;
    let wal = sandbox.path().join("data/test.db-wal");
    let client = Arc::new(Client::new(server.base_url.clone()));
    // Four clients pushing back to back: the WAL is never idle long enough to be copied whole
    // between two commits.
    let pushers: Vec<_> = (0..4)
        .map(|client_no| {
            let client = client.clone();
            tokio::spawn(async move {
                let padding = "x".repeat(2_000);
                for push in 0..25 {
                    let ops: Vec<_> = (0..100)
                        .map(|i| {
                            let key = format!("c{client_no}-p{push}-{i}");
                            insert_op(
                                &key,
                                "items",
                                json!({"id": key, "name": "n", "extra": {"padding": padding}}),
                            )
                        })
                        .collect();
                    let (status, body) = client.push(&clerk(1), "dev-1", true, json!(ops)).await;
                    assert_eq!(status, 200, "{body}");
                }
            })
        })
        .collect();
    let mut largest = 0;
    while pushers.iter().any(|pusher| !pusher.is_finished()) {
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for pusher in pushers {
        pusher.await.expect("pusher");
    }
    let data = std::fs::metadata(sandbox.path().join("data/test.db"))
        .unwrap()
        .len();
    // 10,000 rows of 2 KB: at least 20 MB went through the WAL (32 MB of WAL without the
    // checkpoint that holds the writers' turn; about 6 MB with it).
    assert!(
        data > 20_000_000,
        "the rows reached the database file: {data} bytes"
    );
    assert!(
        largest < 12_000_000,
        "the WAL started again while the pushes went on: it grew to {largest} bytes"
    );
    server.stop().await;
}
