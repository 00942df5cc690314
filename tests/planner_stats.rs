//! PostgreSQL: a table the gateway's inserts grew is analyzed by the gateway at once, not only by
//! autovacuum a minute or more later (a feed read planned on the old statistics read the whole
//! rest of the table for every page).

mod common;

use common::{Backend, Sandbox, TestServer, backends, clerk, insert_op};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn a_table_grown_by_pushes_is_analyzed_by_the_gateway() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let sandbox = Sandbox::new(Backend::Postgres).await;
    sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
    let server = TestServer::start(sandbox.config()).await;
    let db = sandbox.connect().await;
    let analyzed = || async {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT last_analyze IS NOT NULL AS done FROM pg_stat_user_tables \
                 WHERE relname = 'items'",
            ))
            .await
            .unwrap()
            .expect("items is a table");
        row.try_get::<bool>("", "done").unwrap()
    };
    // Below the threshold (10,000 rows): not yet.
    let push = |from: usize| {
        let ops: Vec<_> = (from..from + 1000)
            .map(|i| {
                insert_op(
                    &format!("o{i}"),
                    "items",
                    json!({"id": format!("k{i}"), "name": "n"}),
                )
            })
            .collect();
        json!(ops)
    };
    for batch in 0..5 {
        let (status, body) = server
            .push(&clerk(1), "dev-1", true, push(batch * 1000))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!analyzed().await, "5,000 rows are not worth an ANALYZE");
    for batch in 5..11 {
        let (status, body) = server
            .push(&clerk(1), "dev-1", true, push(batch * 1000))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !analyzed().await {
        assert!(
            Instant::now() < deadline,
            "11,000 new rows: the gateway analyzes the table (last_analyze, not autovacuum's)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}
