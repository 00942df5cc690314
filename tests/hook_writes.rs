//! Hooks that write other rows (`write(table, action, row)`) and read ranges
//! (`query(table, filter, limit)`) in the writer's transaction: a sale lowers its product's
//! stock as the table's `hook_role`, reads see the batch's earlier writes, a failure or a kept
//! conflict leaves none of the hook's writes, and the limits hold.

mod common;

use common::{API, Backend, Sandbox, TestServer, all_changes, backends, token};
use serde_json::{Value, json};

const SCHEMA: &str = r#"
[roles.ADMIN]
scope = "all"
[roles.CLERK]
scope = "branch"
[roles.STOCKROOM]
scope = "branch"

[tables.products]
branch_column = "branch_id"
permissions = { ADMIN = "crud", CLERK = "r", STOCKROOM = "ru" }
[tables.products.columns]
id = { type = "text" }
branch_id = { type = "integer" }
stock = { type = "integer", min = 0 }

[tables.sales]
branch_column = "branch_id"
hooks = ["sell"]
hook_role = "STOCKROOM"
permissions = { ADMIN = "crud", CLERK = "cr" }
[tables.sales.columns]
id = { type = "text" }
branch_id = { type = "integer" }
product_id = { type = "text" }
quantity = { type = "integer", min = 1 }

[tables.sessions]
hooks = ["no_overlap"]
permissions = { ADMIN = "crud", CLERK = "crud" }
shared = true
[tables.sessions.columns]
id = { type = "text" }
user_id = { type = "text" }
starts_at = { type = "timestamp" }
ends_at = { type = "timestamp" }
"#;

const SELL: &str = r#"
fn validate(op, ctx) {
    // A new sale (a drained one arrives as an upsert).
    if op.action == "delete" || op.current != () { return; }
    let product = lookup("products", op.row.product_id);
    if product == () { throw "unknown product " + op.row.product_id; }
    write("products", "update", #{ id: product.id, stock: product.stock - op.row.quantity });
    if op.row.quantity == 99 {
        // Three writes where the limit is two.
        write("products", "update", #{ id: product.id, stock: 1 });
        write("products", "update", #{ id: product.id, stock: 2 });
    }
}
"#;

const NO_OVERLAP: &str = r#"
fn validate(op, ctx) {
    if op.action == "delete" { return; }
    let found = query("sessions", #{
        user_id: op.row.user_id,
        starts_at: #{ lt: op.row.ends_at },
        ends_at: #{ gt: op.row.starts_at },
    }, 10);
    for session in found {
        if session.id != op.row.id { throw "overlaps session " + session.id; }
    }
}
"#;

async fn server(backend: Backend) -> (Sandbox, TestServer) {
    let sandbox = Sandbox::new(backend).await;
    sandbox.write_schema("shop.toml", SCHEMA);
    std::fs::write(sandbox.path().join("plugins/sell.rhai"), SELL).unwrap();
    std::fs::write(sandbox.path().join("plugins/no_overlap.rhai"), NO_OVERLAP).unwrap();
    let mut config = sandbox.config();
    config.plugins.max_hook_writes = 2;
    let server = TestServer::start(config).await;
    let admin = token("boss", "ADMIN", None);
    let products = json!([
        {"table": "products", "action": "insert", "data": {"id": "p1", "branch_id": 1, "stock": 10}},
        {"table": "products", "action": "insert", "data": {"id": "p2", "branch_id": 2, "stock": 10}},
    ]);
    assert_eq!(server.push(&admin, "hq", true, products).await.0, 200);
    (sandbox, server)
}

fn sale(id: &str, product: &str, quantity: i64) -> Value {
    json!({"op_id": id, "table": "sales", "action": "insert",
           "data": {"id": id, "branch_id": 1, "product_id": product, "quantity": quantity}})
}

/// Pushes `operations` atomically, expects the whole push refused (422) and returns its message.
async fn refused(server: &TestServer, token: &str, operations: Value) -> String {
    let (status, body) = server.push(token, "till", true, operations).await;
    assert_eq!(status, 422, "{body}");
    body["error"]["message"].as_str().unwrap().to_string()
}

async fn stock(server: &TestServer, product: &str) -> Value {
    let admin = token("boss", "ADMIN", None);
    let (_, row) = server
        .get_as(&admin, &format!("{API}/tables/products/rows/{product}"))
        .await;
    row["stock"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sale_lowers_its_product_stock_through_the_hook_in_the_same_transaction() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        let clerk = token("c1", "CLERK", Some(json!(1)));
        // The clerk may not update products itself; the hook writes as STOCKROOM.
        let direct =
            json!([{"table": "products", "action": "update", "data": {"id": "p1", "stock": 0}}]);
        assert_eq!(server.push(&clerk, "till", true, direct).await.0, 403);

        // The second sale's lookup sees the first one's stock write.
        let (status, body) = server
            .push(
                &clerk,
                "till",
                true,
                json!([sale("s1", "p1", 2), sale("s2", "p1", 3)]),
            )
            .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(stock(&server, "p1").await, 5, "{backend:?}");
        // The stock write has its own feed position, after the sales' reads of it.
        let changes = all_changes(&server, &token("boss", "ADMIN", None), "").await;
        let product_changes: Vec<&Value> = changes.iter().filter(|c| c["key"] == "p1").collect();
        assert_eq!(
            product_changes.len(),
            1,
            "one version in the feed: {changes:?}"
        );
        assert_eq!(
            product_changes[0]["version"], 3,
            "two hook writes, two versions"
        );

        // More than the stock: the hook's write breaks `min = 0`, and the sale is refused too.
        let (status, body) = server
            .push(&clerk, "till", true, json!([sale("s3", "p1", 6)]))
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "rejected_by_hook", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("products") && message.contains("stock"),
            "{message}"
        );
        let (status, _) = server
            .get_as(&clerk, &format!("{API}/tables/sales/rows/s3"))
            .await;
        assert_eq!(status, 404);
        assert_eq!(stock(&server, "p1").await, 5);

        // Not atomic: the refused sale's stock write is undone, the others stay.
        let (status, body) = server
            .push(
                &clerk,
                "till",
                false,
                json!([
                    sale("s4", "p1", 1),
                    sale("s5", "p1", 50),
                    sale("s6", "p1", 1)
                ]),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
        assert_eq!(stock(&server, "p1").await, 3, "{backend:?}: 5 - 1 - 1");

        // A product of another branch is not the clerk's to read: no write happens.
        let message = refused(&server, &clerk, json!([sale("s7", "p2", 1)])).await;
        assert!(message.contains("unknown product"), "{message}");
        assert_eq!(stock(&server, "p2").await, 10);

        // A conflict that keeps the stored sale keeps the stock too.
        let again = json!([{"op_id": "s1-again", "table": "sales", "action": "insert",
            "data": {"id": "s1", "branch_id": 1, "product_id": "p1", "quantity": 1}}]);
        // (A clerk may not update sales, so a branch-1 admin sends it; the hook then writes as
        // STOCKROOM of branch 1.)
        let admin1 = token("boss", "ADMIN", Some(json!(1)));
        let (status, body) = server.push(&admin1, "hq", true, again).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["conflicts"].as_array().unwrap().len(), 1, "{body}");
        assert_eq!(
            stock(&server, "p1").await,
            3,
            "{backend:?}: the kept sale wrote no stock"
        );

        // A product created earlier in the batch is found by the sale's hook.
        let batch = json!([
            {"table": "products", "action": "insert", "data": {"id": "p3", "branch_id": 1, "stock": 4}},
            sale("s8", "p3", 1),
        ]);
        let (status, body) = server.push(&admin1, "hq", true, batch).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(stock(&server, "p3").await, 3);
        // Without a branch, STOCKROOM reaches no product: the hook's write is refused.
        let admin = token("boss", "ADMIN", None);
        refused(&server, &admin, json!([sale("s10", "p3", 1)])).await;
        assert_eq!(stock(&server, "p3").await, 3);

        // One hook call may ask for at most plugins.max_hook_writes writes.
        let message = refused(&server, &clerk, json!([sale("s9", "p1", 99)])).await;
        assert!(message.contains("plugins.max_hook_writes"), "{message}");
        assert_eq!(stock(&server, "p1").await, 3);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hook_queries_a_range_and_sees_the_batch_so_far() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        let clerk = token("c1", "CLERK", Some(json!(1)));
        let session = |id: &str, from: &str, to: &str| {
            json!({"op_id": id, "table": "sessions", "action": "insert", "data": {
                "id": id, "user_id": "ana",
                "starts_at": format!("2026-03-01T{from}:00Z"), "ends_at": format!("2026-03-01T{to}:00Z")}})
        };
        let (status, body) = server
            .push(
                &clerk,
                "tab",
                false,
                json!([
                    session("a", "10:00", "11:00"),
                    session("b", "10:30", "11:30"),
                    session("c", "11:00", "12:00"),
                ]),
            )
            .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        let applied: Vec<&Value> = body["applied"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| &a["key"])
            .collect();
        assert_eq!(applied, [&json!("a"), &json!("c")], "{body}");
        let refused = &body["errors"][0]["error"];
        assert_eq!(refused["code"], "rejected_by_hook", "{body}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("overlaps session a"),
            "{body}"
        );
        // Committed rows are found the same way.
        let (status, body) = server
            .push(&clerk, "tab", true, json!([session("d", "11:59", "12:30")]))
            .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("overlaps session c")
        );
        // Updating a session to its own times does not overlap itself.
        let update = json!([{"table": "sessions", "action": "update", "data": {"id": "c", "ends_at": "2026-03-01T12:10:00Z"}}]);
        assert_eq!(server.push(&clerk, "tab", true, update).await.0, 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_queries_and_writes_from_hooks_are_named() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_schema(
        "shop.toml",
        &SCHEMA.replace("hooks = [\"no_overlap\"]", "hooks = [\"bad\"]"),
    );
    std::fs::write(sandbox.path().join("plugins/sell.rhai"), SELL).unwrap();
    std::fs::write(
        sandbox.path().join("plugins/bad.rhai"),
        r#"
fn validate(op, ctx) {
    if op.row.user_id == "column" { query("sessions", #{ nope: 1 }, 10); }
    if op.row.user_id == "limit" { query("sessions", #{}, 0); }
    if op.row.user_id == "operator" { query("sessions", #{ starts_at: #{ like: "x" } }, 5); }
    if op.row.user_id == "action" { write("sessions", "merge", #{ id: "x" }); }
    if op.row.user_id == "table" { write("nowhere", "insert", #{ id: "x" }); }
}
fn after_commit(op, ctx) { write("sessions", "delete", #{ id: op.row.id }); }
"#,
    )
    .unwrap();
    let server = TestServer::start(sandbox.config()).await;
    let clerk = token("c1", "CLERK", Some(json!(1)));
    for (user, expected) in [
        ("column", "`nope` is not a column"),
        ("limit", "limit must be 1 to 1000"),
        ("operator", "`like` is not eq, ne, lt, lte, gt or gte"),
        ("action", "insert, update, upsert or delete"),
        ("table", "`nowhere` does not exist"),
    ] {
        let op = json!([{"table": "sessions", "action": "insert", "data": {
            "id": user, "user_id": user, "starts_at": "2026-03-01T10:00:00Z", "ends_at": "2026-03-01T11:00:00Z"}}]);
        let (status, body) = server.push(&clerk, "tab", true, op).await;
        assert_eq!(status, 422, "{user}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{user}: {message}");
    }
    // `write` in after_commit is refused (logged); the row stays.
    let op = json!([{"table": "sessions", "action": "insert", "data": {
        "id": "ok", "user_id": "ok", "starts_at": "2026-03-01T10:00:00Z", "ends_at": "2026-03-01T11:00:00Z"}}]);
    assert_eq!(server.push(&clerk, "tab", true, op).await.0, 200);
    let (status, _) = server
        .get_as(&clerk, &format!("{API}/tables/sessions/rows/ok"))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_an_edge_a_hook_write_stays_local_and_the_hub_makes_it_again_once() {
    use common::process::{Gateway, edge_keys, free_port};
    for backend in backends() {
        let write_files = |sandbox: &Sandbox| {
            sandbox.write_schema("shop.toml", SCHEMA);
            std::fs::write(sandbox.path().join("plugins/sell.rhai"), SELL).unwrap();
            std::fs::write(sandbox.path().join("plugins/no_overlap.rhai"), NO_OVERLAP).unwrap();
        };
        let hub_sandbox = Sandbox::new(backend).await;
        write_files(&hub_sandbox);
        let hub_port = free_port();
        let mut hub = Gateway::new(hub_sandbox.write_config(""), hub_port);
        hub.start().await;
        let edge_sandbox = Sandbox::new(Backend::Sqlite).await;
        write_files(&edge_sandbox);
        let edge_token = common::token_with(
            "edge-1",
            "ADMIN",
            Some(json!(1)),
            Default::default(),
            86_400,
        );
        let mut edge = Gateway::new(
            edge_sandbox.write_config(&edge_keys(hub_port, &edge_token, "edge-1", "")),
            free_port(),
        );
        edge.start().await;
        let admin1 = token("boss", "ADMIN", Some(json!(1)));
        let product = json!([{"table": "products", "action": "insert", "data": {"id": "p1", "branch_id": 1, "stock": 10}}]);
        assert_eq!(hub.push(&admin1, "hq", true, product).await.0, 200);
        let (status, body) = edge
            .post_as(
                &admin1,
                &format!("{API}/sync/snapshot?full=true"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let clerk = token("c1", "CLERK", Some(json!(1)));
        let (status, body) = edge
            .push(&clerk, "till", true, json!([sale("s1", "p1", 3)]))
            .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        let (_, row) = edge
            .get_as(&admin1, &format!("{API}/tables/products/rows/p1"))
            .await;
        assert_eq!(row["stock"], 7, "lowered on the edge at once");
        let (_, log) = edge.get_as(&admin1, &format!("{API}/sync/log")).await;
        let queued: Vec<&Value> = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["table"])
            .collect();
        // The sale; not the hook's stock write.
        assert_eq!(queued, [&json!("sales")], "{log}");
        // The hub restocks before the drain runs; the drained sale lowers the hub's own stock.
        let restock =
            json!([{"table": "products", "action": "update", "data": {"id": "p1", "stock": 20}}]);
        assert_eq!(hub.push(&admin1, "hq", true, restock).await.0, 200);
        edge.kill();
        let mut edge = Gateway::new(
            edge_sandbox.write_config(&edge_keys(hub_port, &edge_token, "edge-1", "* * * * * *")),
            free_port(),
        );
        edge.start().await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (status, _) = hub
                .get_as(&admin1, &format!("{API}/tables/sales/rows/s1"))
                .await;
            if status == 200 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the sale did not reach the hub"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let (_, row) = hub
            .get_as(&admin1, &format!("{API}/tables/products/rows/p1"))
            .await;
        assert_eq!(
            row["stock"], 17,
            "{backend:?}: 20 - 3, lowered once, the restock kept: {row}"
        );
    }
}
