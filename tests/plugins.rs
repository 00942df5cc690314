//! Hook plugins: each script function, rejection and transform, a runaway script, bad return
//! values, on_conflict, the shipped example hooks, webhooks (signature, reject, transform,
//! queued after_commit with retries) and `syncgate check` on a syntax error.

mod common;

use common::{API, Backend, Sandbox, TestServer, admin, backends, binary, clerk, token};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SCHEMA: &str = r#"
[roles.ADMIN]
scope = "all"
[roles.CLERK]
scope = "branch"

[tables.notes]
branch_column = "branch_id"
hooks = ["guard", "shout"]
permissions = { ADMIN = "crud", CLERK = "crud" }
[tables.notes.columns]
id = { type = "text" }
branch_id = { type = "integer" }
body = { type = "text" }
qty = { type = "integer", default = 0 }
audit = { type = "text", nullable = true }

[tables.runaway]
hooks = ["runaway"]
permissions = { ADMIN = "crud" }
[tables.runaway.columns]
id = { type = "text" }

[tables.badreturn]
hooks = ["badreturn"]
permissions = { ADMIN = "crud" }
[tables.badreturn.columns]
id = { type = "text" }
qty = { type = "integer", default = 0 }

[tables.queued]
conflict = "manual"
hooks = ["guard"]
permissions = { ADMIN = "crud" }
[tables.queued.columns]
id = { type = "text" }
qty = { type = "integer", default = 0 }
audit = { type = "text", nullable = true }

[tables.decided]
conflict = "hook"
hooks = ["decider"]
permissions = { ADMIN = "crud" }
[tables.decided.columns]
id = { type = "text" }
body = { type = "text" }
"#;

const GUARD: &str = r#"
// Refuses more than 10; records who wrote the row.
fn validate(op, ctx) {
    if op.row.qty > 10 {
        throw `too many: ${op.row.qty}`;
    }
}

fn transform(op, ctx) {
    let row = op.row;
    row.audit = `${ctx.user}@${ctx.device}:${ctx.action}`;
    row
}

fn after_commit(op, ctx) {
    print(`committed ${op.key}`);
}
"#;

const SHOUT: &str = r#"
fn transform(op, ctx) {
    let row = op.row;
    row.body = row.body.to_upper();
    row
}
"#;

const RUNAWAY: &str =
    "fn validate(op, ctx) {\n    let n = 0;\n    loop {\n        n += 1;\n    }\n}\n";

const BADRETURN: &str = r#"
fn transform(op, ctx) {
    if op.row.qty == 1 { return 42; }
    let row = op.row;
    row.qty = "lots";
    row
}
"#;

const DECIDER: &str = r#"
fn on_conflict(server, client, ctx) {
    if client.body == "keep" { return (); }
    let row = client;
    row.body = `${server.body}+${client.body}`;
    row
}
"#;

async fn hooked_server(backend: Backend, extra: &[(&str, &str)]) -> (Sandbox, TestServer) {
    let sandbox = Sandbox::new(backend).await;
    sandbox.write_schema("hooks.toml", SCHEMA);
    for (name, source) in [
        ("guard", GUARD),
        ("shout", SHOUT),
        ("runaway", RUNAWAY),
        ("badreturn", BADRETURN),
        ("decider", DECIDER),
    ]
    .iter()
    .chain(extra)
    {
        std::fs::write(sandbox.path().join(format!("plugins/{name}.rhai")), source).unwrap();
    }
    let mut config = sandbox.config();
    config.plugins.max_operations = 50_000;
    let server = TestServer::start(config).await;
    (sandbox, server)
}

fn note(id: &str, body: &str, qty: i64) -> Value {
    json!([{"op_id": format!("op-{id}-{qty}"), "table": "notes", "action": "upsert", "data": {"id": id, "body": body, "qty": qty}}])
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_rejects_and_transforms_run_in_order() {
    for backend in backends() {
        let (_sandbox, server) = hooked_server(backend, &[]).await;
        let (status, body) = server
            .push(&clerk(1), "till", true, note("a", "hello", 3))
            .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        let row = &body["applied"][0]["row"];
        assert_eq!(
            row["body"], "HELLO",
            "the second hook saw the first one's row"
        );
        assert_eq!(
            row["audit"], "clerk-1@till:upsert",
            "ctx carries user, device and action"
        );

        let (status, body) = server
            .push(&clerk(1), "till", true, note("b", "x", 11))
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "rejected_by_hook");
        assert_eq!(body["error"]["details"]["op_id"], "op-b-11");
        assert_eq!(body["error"]["details"]["hook"], "guard");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("too many: 11"),
            "{body}"
        );
        let (status, _) = server
            .get_as(&admin(), &format!("{API}/tables/notes/rows/b"))
            .await;
        assert_eq!(status, 404, "nothing written");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_scripts_answer_clear_errors_and_never_hang() {
    let (_sandbox, server) = hooked_server(Backend::Sqlite, &[]).await;
    let started = Instant::now();
    let (status, body) = server
        .push(
            &admin(),
            "d",
            true,
            json!([{"table": "runaway", "action": "insert", "data": {"id": "x"}}]),
        )
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "hook_failed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("hook `runaway` failed in `validate`"),
        "{message}"
    );
    assert!(message.contains("ran too long"), "{message}");
    assert!(message.contains("runaway.rhai"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the runaway loop was stopped"
    );

    let (status, body) = server
        .push(
            &admin(),
            "d",
            true,
            json!([{"table": "badreturn", "action": "insert", "data": {"id": "x", "qty": 1}}]),
        )
        .await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must return the row (a map) or ()"),
        "{body}"
    );

    // A transformed row is checked against the schema again.
    let (status, body) = server
        .push(
            &admin(),
            "d",
            true,
            json!([{"table": "badreturn", "action": "insert", "data": {"id": "y", "qty": 2}}]),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"]["field"], "qty");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hook_strategy_asks_on_conflict() {
    for backend in backends() {
        let (_sandbox, server) = hooked_server(backend, &[]).await;
        let push = |body: &str, base: Option<i64>| json!([{"table": "decided", "action": "upsert", "data": {"id": "d", "body": body}, "base_version": base}]);
        server.push(&admin(), "a", true, push("one", None)).await;
        server.push(&admin(), "a", true, push("two", None)).await;
        let (_, body) = server
            .push(&admin(), "b", true, push("three", Some(1)))
            .await;
        assert_eq!(
            body["applied"][0]["row"]["body"], "two+three",
            "{backend:?}: {body}"
        );
        let (_, body) = server
            .push(&admin(), "b", true, push("keep", Some(1)))
            .await;
        assert_eq!(body["conflicts"][0]["row"]["body"], "two+three", "{body}");
        assert_eq!(body["conflicts"][0]["conflict"]["strategy"], "hook");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_hooks_guard_stock_and_compute_line_totals() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut config = sandbox.config();
        config.paths.schemas = root.join("schemas");
        config.paths.plugins = root.join("plugins");
        config.plugins.watch = false;
        let server = TestServer::start(config).await;
        let product = "11111111-1111-4111-8111-111111111111";
        let cashier = token("ana", "CAJERO", Some(json!(1)));
        let warehouse = token("bo", "BODEGA", Some(json!(1)));
        let (status, body) = server
            .push(
                &warehouse,
                "wh",
                true,
                json!([{"table": "products", "action": "insert", "data": {
                "id": product, "sku": "TEA-1", "name": "Green tea", "price": "2.10", "stock": 5,
                "updated_at": "2026-11-22T10:00:00Z"}}]),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let sale = |id: &str, quantity: i64| {
            json!([{"table": "sales", "action": "insert", "data": {
                "id": id, "product_id": product, "quantity": quantity, "unit_price": "2.10",
                "sold_at": "2026-11-22T11:00:00Z", "cashier": "ana"}}])
        };
        let (status, body) = server
            .push(
                &cashier,
                "till",
                true,
                sale("22222222-2222-4222-8222-222222222222", 3),
            )
            .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body["applied"][0]["row"]["line_total"], "6.3");
        let (status, body) = server
            .push(
                &cashier,
                "till",
                true,
                sale("33333333-3333-4333-8333-333333333333", 9),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not enough stock of Green tea: 5 left, 9 sold"),
            "{body}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_script_syntax_errors_with_file_and_line() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_schema("hooks.toml", SCHEMA);
    for (name, source) in [
        ("guard", "fn validate(op, ctx) {\n    let x = ;\n}\n"),
        ("shout", SHOUT),
        ("runaway", RUNAWAY),
        ("badreturn", "// nothing here\n"),
        ("decider", DECIDER),
    ] {
        std::fs::write(sandbox.path().join(format!("plugins/{name}.rhai")), source).unwrap();
    }
    let config = sandbox.write_config("");
    let output = std::process::Command::new(binary())
        .args(["check", "--offline", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(report.contains("guard.rhai:2:"), "{report}");
    assert!(
        report.contains("badreturn.rhai: the script defines no hook function"),
        "{report}"
    );
}

/// Every call a receiver got: raw body, signature header, parsed body.
type Calls = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

/// A webhook receiver on 127.0.0.1 that records every call.
struct Receiver {
    url: String,
    calls: Calls,
}

async fn receiver(fail_after_commit: usize) -> Receiver {
    use poem::{EndpointExt, Route, handler, web::Json};
    let calls: Calls = Arc::default();
    let failures = Arc::new(Mutex::new(fail_after_commit));
    #[handler]
    async fn hook(
        request: &poem::Request,
        body: String,
        calls: poem::web::Data<&Calls>,
        failures: poem::web::Data<&Arc<Mutex<usize>>>,
    ) -> poem::Response {
        use poem::IntoResponse;
        let signature = request
            .headers()
            .get("x-syncgate-signature")
            .map(|v| v.to_str().unwrap().to_string());
        let parsed: Value = serde_json::from_str(&body).unwrap();
        calls
            .lock()
            .unwrap()
            .push((body.clone(), signature, parsed.clone()));
        if parsed["hook"] == "after_commit" {
            let mut left = failures.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return poem::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            return Json(json!({})).into_response();
        }
        let qty = parsed["op"]["row"]["qty"].as_i64().unwrap_or(0);
        if qty > 10 {
            return Json(json!({"reject": "the warehouse says no"})).into_response();
        }
        let mut row = parsed["op"]["row"].clone();
        row["audit"] = json!("checked by webhook");
        Json(json!({"row": row})).into_response()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Route::new()
        .at("/hook", poem::post(hook))
        .data(calls.clone())
        .data(failures);
    tokio::spawn(
        poem::Server::new_with_acceptor(poem::listener::TcpAcceptor::from_tokio(listener).unwrap())
            .run(app),
    );
    Receiver { url, calls }
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_are_signed_decide_before_writes_and_are_retried_after_commits() {
    for backend in backends() {
        let hook = receiver(2).await;
        let sandbox = Sandbox::new(backend).await;
        let schema = format!(
            "[roles.ADMIN]\nscope = \"all\"\n[tables.orders]\nhooks = [\"{}\"]\npermissions = {{ ADMIN = \"crud\" }}\n\
             [tables.orders.columns]\nid = {{ type = \"text\" }}\nqty = {{ type = \"integer\" }}\naudit = {{ type = \"text\", nullable = true }}\n",
            hook.url
        );
        sandbox.write_schema("orders.toml", &schema);
        let mut config = sandbox.config();
        config.plugins.webhook_secret = Some(syncgate::config::Secret::new("hook-secret"));
        let server = TestServer::start(config).await;

        let order = |id: &str, qty: i64| json!([{"table": "orders", "action": "insert", "data": {"id": id, "qty": qty}}]);
        let (status, body) = server.push(&admin(), "d", true, order("o1", 2)).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body["applied"][0]["row"]["audit"], "checked by webhook");
        let (status, body) = server.push(&admin(), "d", true, order("o2", 50)).await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("the warehouse says no")
        );

        // Every call is signed with HMAC-SHA256 of its body.
        for (raw, signature, _) in hook.calls.lock().unwrap().iter() {
            let expected = syncgate::plugins::webhook::signature("hook-secret", raw.as_bytes());
            assert_eq!(signature.as_deref(), Some(expected.as_str()));
        }
        // The after_commit call fails twice, then is delivered.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let delivered = hook
                .calls
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, _, body)| body["hook"] == "after_commit")
                .count();
            if delivered >= 3 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{backend:?}: after_commit was not retried until delivered ({delivered} calls)"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let db = sandbox.connect().await;
        use sea_orm::ConnectionTrait;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    "SELECT status, attempts FROM syncgate_webhook_deliveries",
                ))
                .await
                .unwrap()
                .unwrap();
            let status: String = row.try_get("", "status").unwrap();
            if status == "delivered" {
                let attempts: i64 = row.try_get("", "attempts").unwrap();
                assert_eq!(attempts, 2);
                break;
            }
            assert!(Instant::now() < deadline, "still {status}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn resolving_a_conflict_runs_the_tables_hooks_like_any_write() {
    for backend in backends() {
        let (_sandbox, server) = hooked_server(backend, &[]).await;
        let write = |op: &str, qty: i64, base: Option<i64>| json!([{"op_id": op, "table": "queued", "action": "upsert", "data": {"id": "q", "qty": qty}, "base_version": base}]);
        server.push(&admin(), "d", true, write("1", 1, None)).await;
        server
            .push(&admin(), "d", true, write("2", 2, Some(1)))
            .await;
        let (_, body) = server
            .push(&admin(), "d", true, write("3", 3, Some(1)))
            .await;
        let id = body["conflicts"][0]["conflict"]["conflict_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("{backend:?}: no conflict queued: {body}"));
        let resolve = format!("{API}/sync/conflicts/{id}/resolve");

        // The guard's validate refuses the merged row: 422, nothing written, still open.
        let (status, body) = server
            .post_as(
                &admin(),
                &resolve,
                &json!({"resolution": "merged", "data": {"qty": 50}}),
            )
            .await;
        assert_eq!(status, 422, "{backend:?}: {body}");
        assert_eq!(body["error"]["code"], "rejected_by_hook", "{body}");
        let (_, row) = server
            .get_as(&admin(), &format!("{API}/tables/queued/rows/q"))
            .await;
        assert_eq!(
            (row["qty"].clone(), row["_version"].clone()),
            (json!(2), json!(2)),
            "{row}"
        );
        let (_, open) = server
            .get_as(&admin(), &format!("{API}/sync/conflicts"))
            .await;
        assert_eq!(open["conflicts"].as_array().unwrap().len(), 1, "{open}");

        // The client's row passes, and the transform hook stamps it as an update.
        let (status, body) = server
            .post_as(&admin(), &resolve, &json!({"resolution": "use_local"}))
            .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body["row"]["qty"], 3, "{body}");
        assert_eq!(
            body["row"]["audit"], "admin@d:update",
            "{backend:?}: {body}"
        );
        server.stop().await;
    }
}
