//! What ported systems need from their old semantics: an update or delete that matches no row
//! answered as applied (`missing_row = "ignore"`), and public tables read without a token
//! (`auth.anonymous_role`).

mod common;

use common::{API, Backend, Sandbox, TestServer, all_changes, backends, token};
use serde_json::{Value, json};

const SCHEMA: &str = r#"
[roles.DEVICE]
scope = "all"
[roles.TILL]
scope = "branch"
[roles.PUBLIC]
scope = "all"

[tables.stock]
branch_column = "shop"
missing_row = "ignore"
permissions = { DEVICE = "crud", TILL = "cru", PUBLIC = "r" }
[tables.stock.columns]
id = { type = "text" }
shop = { type = "integer", nullable = true }
quantity = { type = "integer", default = 0 }

[tables.sales]
permissions = { DEVICE = "crud", PUBLIC = "c" }
[tables.sales.columns]
id = { type = "text" }
total = { type = "integer" }
"#;

async fn server(backend: Backend, anonymous_role: Option<&str>) -> (Sandbox, TestServer) {
    let sandbox = Sandbox::new(backend).await;
    sandbox.write_schema("shop.toml", SCHEMA);
    let mut config = sandbox.config();
    config.auth.anonymous_role = anonymous_role.map(String::from);
    let server = TestServer::start(config).await;
    (sandbox, server)
}

fn op(op_id: &str, table: &str, action: &str, data: Value) -> Value {
    json!({"op_id": op_id, "table": table, "action": action, "data": data})
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_or_delete_of_a_missing_row_is_ignored_where_the_table_says_so() {
    for backend in backends() {
        let (_sandbox, server) = server(backend, None).await;
        let device = token("pos-1", "DEVICE", None);
        let batch = json!([
            op(
                "u1",
                "stock",
                "update",
                json!({"id": "P001", "quantity": 20})
            ),
            op("d1", "stock", "delete", json!({"id": "P002"})),
            op("s1", "sales", "insert", json!({"id": "123", "total": 1000})),
        ]);
        let (status, first) = server.push(&device, "shop_01", true, batch.clone()).await;
        assert_eq!(status, 200, "{backend:?}: {first}");
        let applied = first["applied"].as_array().unwrap();
        assert_eq!(applied.len(), 3, "{first}");
        for ignored in &applied[..2] {
            assert_eq!(ignored["status"], "applied", "{first}");
            assert_eq!(ignored["version"], 0, "nothing written: {first}");
            assert!(ignored.get("row").is_none(), "no row: {first}");
        }
        assert_eq!(applied[1]["deleted"], true, "{first}");
        assert_eq!(applied[2]["version"], 1, "{first}");
        let changes = all_changes(&server, &device, "").await;
        let keys: Vec<&Value> = changes.iter().map(|c| &c["key"]).collect();
        assert_eq!(keys, [&json!("123")], "only the sale is in the feed");

        // A retry answers the same, still writing nothing, even once the row exists.
        let create = json!([op(
            "c1",
            "stock",
            "insert",
            json!({"id": "P001", "quantity": 5})
        )]);
        assert_eq!(server.push(&device, "shop_01", true, create).await.0, 200);
        let (status, again) = server.push(&device, "shop_01", true, batch).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["applied"][0]["version"], 0, "{again}");
        assert_eq!(again["applied"][0]["replayed"], true, "{again}");
        assert!(again["applied"][0].get("row").is_none(), "{again}");
        let (_, row) = server
            .get_as(&device, &format!("{API}/tables/stock/rows/P001"))
            .await;
        assert_eq!(row["quantity"], 5, "the retry did not update: {row}");

        // The same update now matches the row and applies.
        let update = json!([op(
            "u2",
            "stock",
            "update",
            json!({"id": "P001", "quantity": 20})
        )]);
        let (_, applied) = server.push(&device, "shop_01", true, update).await;
        assert_eq!(applied["applied"][0]["version"], 2, "{applied}");

        // A table without the setting answers 404 and the whole batch leaves no trace.
        let batch = json!([
            op("s2", "sales", "insert", json!({"id": "124", "total": 5})),
            op("s3", "sales", "update", json!({"id": "999", "total": 5})),
        ]);
        let (status, refused) = server.push(&device, "shop_01", true, batch).await;
        assert_eq!(status, 404, "{refused}");
        assert_eq!(refused["error"]["code"], "row_not_found", "{refused}");
        assert_eq!(refused["error"]["details"]["index"], 1, "{refused}");
        let (status, _) = server
            .get_as(&device, &format!("{API}/tables/sales/rows/124"))
            .await;
        assert_eq!(status, 404, "the batch rolled back");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ignoring_a_missing_row_neither_skips_permissions_nor_tells_of_rows_outside_the_scope() {
    for backend in backends() {
        let (_sandbox, server) = server(backend, None).await;
        let device = token("pos-1", "DEVICE", None);
        let till = token("till-2", "TILL", Some(json!(2)));
        let seed = json!([op(
            "c1",
            "stock",
            "insert",
            json!({"id": "P1", "shop": 1, "quantity": 7})
        )]);
        assert_eq!(server.push(&device, "hq", true, seed).await.0, 200);

        // TILL may not delete: refused whether the row exists or not.
        let delete = json!([op("d1", "stock", "delete", json!({"id": "nothing"}))]);
        let (status, refused) = server.push(&till, "till-2", true, delete).await;
        assert_eq!(status, 403, "{refused}");

        // Shop 1's row is outside shop 2's scope: answered as if absent, and left alone.
        let update = json!([op(
            "u1",
            "stock",
            "update",
            json!({"id": "P1", "quantity": 0})
        )]);
        let (status, answer) = server.push(&till, "till-2", true, update).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["applied"][0]["version"], 0, "{answer}");
        assert!(answer["applied"][0].get("row").is_none(), "{answer}");
        let (_, row) = server
            .get_as(&device, &format!("{API}/tables/stock/rows/P1"))
            .await;
        assert_eq!(row["quantity"], 7, "{row}");
        assert_eq!(row["_version"], 1, "{row}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_a_token_act_as_the_anonymous_role_only_when_configured() {
    for backend in backends() {
        let (_sandbox, closed) = server(backend, None).await;
        let response = closed
            .client
            .get(closed.url(&format!("{API}/sync/changes")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "off by default");
        closed.stop().await;

        let (_sandbox, open) = server(backend, Some("PUBLIC")).await;
        let device = token("pos-1", "DEVICE", None);
        let seed = json!([
            op("c1", "stock", "insert", json!({"id": "P1", "quantity": 3})),
            op("c2", "sales", "insert", json!({"id": "S1", "total": 9})),
        ]);
        assert_eq!(open.push(&device, "hq", true, seed).await.0, 200);

        let anonymous = |path: &str| open.client.get(open.url(path));
        let page: Value = anonymous(&format!("{API}/sync/changes"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let tables: Vec<&Value> = page["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["table"])
            .collect();
        assert_eq!(tables, [&json!("stock")], "PUBLIC reads stock only: {page}");

        // What the role may not do stays forbidden; what it may do works without a token.
        let push = |operations: Value| {
            open.client
                .post(open.url(&format!("{API}/sync/push")))
                .json(&json!({"device_id": "kiosk", "operations": operations}))
                .send()
        };
        let refused = push(json!([op(
            "u",
            "stock",
            "update",
            json!({"id": "P1", "quantity": 0})
        )]))
        .await
        .unwrap();
        assert_eq!(refused.status(), 403);
        let accepted = push(json!([op(
            "s",
            "sales",
            "insert",
            json!({"id": "S2", "total": 1})
        )]))
        .await
        .unwrap();
        assert_eq!(accepted.status(), 200);

        // A token that fails is refused, never served anonymously.
        let bad = anonymous(&format!("{API}/sync/changes"))
            .bearer_auth("not-a-jwt")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 401);
        // A token still acts as its own role.
        let (status, page) = open.get_as(&device, &format!("{API}/sync/changes")).await;
        assert_eq!(status, 200);
        assert_eq!(page["changes"].as_array().unwrap().len(), 3, "{page}");
        open.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anonymous_role_the_schema_does_not_declare_stops_the_start() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_schema("shop.toml", SCHEMA);
    let mut config = sandbox.config();
    config.auth.anonymous_role = Some("PUBLC".into());
    let error = match TestServer::try_start(config).await {
        Ok(server) => {
            server.stop().await;
            panic!("the server started with an undeclared anonymous role");
        }
        Err(error) => error.to_string(),
    };
    assert!(error.contains("auth.anonymous_role"), "{error}");
    assert!(
        error.contains("PUBLIC"),
        "suggests the declared role: {error}"
    );
}
