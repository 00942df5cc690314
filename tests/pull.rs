//! `POST /sync/pull` (seed 002): rows by table, default and capped limits, paging by cursor,
//! deleted rows left out — on every backend.

mod common;

use common::{API, backends, clerk, sync_server};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn pull_pages_live_rows_by_table() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let mut ops: Vec<Value> = (0..7)
            .map(|i| json!({"table": "items", "action": "insert", "data": {"id": format!("i{i}"), "name": "x"}}))
            .collect();
        ops.push(json!({"table": "t_client", "action": "insert", "data": {"id": "c1"}}));
        ops.push(json!({"table": "items", "action": "delete", "data": {"id": "i3"}}));
        let (status, body) = server.push(&clerk(1), "d", true, json!(ops)).await;
        assert_eq!(status, 200, "{body}");

        let (status, all) = server
            .post_as(&clerk(1), &format!("{API}/sync/pull"), &json!({}))
            .await;
        assert_eq!(status, 200, "{all}");
        assert_eq!(all["success"], true);
        assert_eq!(all["limit"], 1000, "the default limit");
        assert_eq!(
            all["data"]["items"].as_array().unwrap().len(),
            6,
            "{backend:?}: deleted rows are left out"
        );
        assert_eq!(all["data"]["t_client"].as_array().unwrap().len(), 1);
        assert_eq!(
            all["data"]["t_lww"],
            json!([]),
            "every readable table is listed"
        );
        assert_eq!(all["data"]["items"][0]["_version"], 1);

        let (_, capped) = server
            .post_as(
                &clerk(1),
                &format!("{API}/sync/pull"),
                &json!({"limit": 99999}),
            )
            .await;
        assert_eq!(capped["limit"], 5000);

        let mut cursor = Value::Null;
        let mut pulled = Vec::new();
        loop {
            let request = json!({"tables": ["items"], "limit": 4, "cursor": cursor});
            let (status, page) = server
                .post_as(&clerk(1), &format!("{API}/sync/pull"), &request)
                .await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(
                page.get("data").and_then(|d| d.get("t_client")),
                None,
                "only the asked tables"
            );
            pulled.extend(
                page["data"]["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["id"].clone()),
            );
            cursor = page["cursor"].clone();
            if page["has_more"] == false {
                break;
            }
        }
        assert_eq!(
            pulled,
            ["i0", "i1", "i2", "i4", "i5", "i6"].map(Value::from),
            "{backend:?}"
        );

        let (status, body) = server
            .post_as(
                &clerk(1),
                &format!("{API}/sync/pull"),
                &json!({"tables": ["secret"]}),
            )
            .await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["code"], "unknown_table");
        server.stop().await;
    }
}
