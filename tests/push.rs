//! `POST /sync/push`: atomic batches and their rollback, per-item batches, value checks,
//! versions, replays, deletes, and seed 002's request at an empty prefix — on every backend.

mod common;

use common::{
    API, Backend, Sandbox, TestServer, admin, all_changes, backends, clerk, insert_op, sync_server,
    token,
};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn an_atomic_batch_applies_every_operation_with_its_version() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let ops = json!([
            insert_op("o1", "items", json!({"name": "apple", "price": "1.50", "updated_at": "2026-11-22T10:00:00+02:00", "id": "a"})),
            insert_op("o2", "items", json!({"name": "bread", "qty": 3, "ref": "5F0C8E4E-7D7A-4B43-9A57-1B1D2F7C9E10", "id": "b"})),
            {"op_id": "o3", "table": "items", "action": "update", "data": {"id": "a", "qty": 9}},
        ]);
        let (status, body) = server.push(&clerk(1), "dev-1", true, ops).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body["success"], true);
        assert_eq!(body["applied"].as_array().unwrap().len(), 3);
        let a = &body["applied"][2];
        assert_eq!(
            (a["op_id"].clone(), a["version"].clone()),
            (json!("o3"), json!(2)),
            "{body}"
        );
        let row = &a["row"];
        assert_eq!(row["qty"], 9);
        assert_eq!(row["price"], "1.50", "decimals keep their digits");
        assert_eq!(
            row["updated_at"], "2026-11-22T08:00:00Z",
            "timestamps are stored in UTC"
        );
        assert_eq!(row["branch_id"], 1, "the branch comes from the token");
        assert_eq!(row["kind"], "a", "defaults fill unsent columns");
        assert_eq!(row["_version"], 2);
        assert_eq!(
            body["applied"][1]["row"]["ref"],
            "5f0c8e4e-7d7a-4b43-9a57-1b1d2f7c9e10"
        );

        let (status, fetched) = server
            .get_as(&clerk(1), &format!("{API}/tables/items/rows/a"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            &fetched, row,
            "{backend:?}: every type reads back as written"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_atomic_batch_names_the_operation_and_writes_nothing() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let ops = json!([
            insert_op("o1", "items", json!({"name": "apple", "id": "a"})),
            insert_op("o2", "items", json!({"name": "bread", "id": "b"})),
            insert_op(
                "o3",
                "items",
                json!({"name": "cake", "prce": "2.00", "id": "c"})
            ),
        ]);
        let (status, body) = server.push(&clerk(1), "dev-1", true, ops).await;
        assert_eq!(status, 422, "{backend:?}: {body}");
        let error = &body["error"];
        assert_eq!(error["code"], "validation_failed");
        assert_eq!(error["details"]["index"], 2);
        assert_eq!(error["details"]["op_id"], "o3");
        assert_eq!(error["details"]["field"], "prce");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("operation 2 (op_id `o3`"), "{message}");
        assert!(message.contains("did you mean `price`?"), "{message}");
        assert!(message.contains("nothing was written"), "{message}");
        assert!(
            all_changes(&server, &admin(), "").await.is_empty(),
            "{backend:?}: rolled back"
        );

        // Nor were the op ids recorded: the corrected batch applies.
        let ops = json!([
            insert_op("o1", "items", json!({"name": "apple", "id": "a"})),
            insert_op("o3", "items", json!({"name": "cake", "id": "c"}))
        ]);
        let (status, body) = server.push(&clerk(1), "dev-1", true, ops).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["applied"][0]["replayed"], false);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_value_is_checked_against_its_column() {
    let (_sandbox, server) = sync_server(Backend::Sqlite).await;
    let cases = [
        (json!({"name": 5}), "name", "expected a string"),
        (
            json!({"name": "x", "qty": "many"}),
            "qty",
            "expected an integer",
        ),
        (
            json!({"name": "x", "qty": -1}),
            "qty",
            "below the minimum of 0",
        ),
        (
            json!({"name": "x", "kind": "c"}),
            "kind",
            "\"c\" is not one of \"a\", \"b\"",
        ),
        (
            json!({"name": "a very long name indeed, too long"}),
            "name",
            "longer than the maximum of 20",
        ),
        (json!({"name": null}), "name", "null is not allowed"),
        (json!({"qty": 1}), "name", "`name` is required"),
        (
            json!({"name": "x", "price": "1,5"}),
            "price",
            "expected a decimal",
        ),
        (
            json!({"name": "x", "ratio": "half"}),
            "ratio",
            "expected a number",
        ),
        (
            json!({"name": "x", "ok": "yes"}),
            "ok",
            "expected true or false",
        ),
        (
            json!({"name": "x", "day": "22/11/2026"}),
            "day",
            "expected a date",
        ),
        (json!({"name": "x", "ref": "42"}), "ref", "expected a UUID"),
        (
            json!({"name": "x", "updated_at": "now"}),
            "updated_at",
            "RFC 3339",
        ),
        (
            json!({"name": "x", "_sg_version": 3}),
            "_sg_version",
            "unknown column",
        ),
    ];
    for (data, field, reason) in cases {
        let mut row = data.clone();
        row["id"] = json!("k");
        let (status, body) = server
            .push(&clerk(1), "d", true, json!([insert_op("x", "items", row)]))
            .await;
        assert_eq!(status, 422, "{data}: {body}");
        assert_eq!(body["error"]["details"]["field"], field, "{data}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(reason),
            "{data}: {body}"
        );
    }
    let (status, body) = server
        .push(
            &clerk(1),
            "d",
            true,
            json!([{"table": "items", "action": "update", "data": {"name": "x"}}]),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("primary key `id` is required")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_per_item_batch_splits_applied_conflicts_and_errors() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        server
            .push(
                &clerk(1),
                "d",
                true,
                json!([insert_op(
                    "seed",
                    "items",
                    json!({"name": "old", "id": "old"})
                )]),
            )
            .await;
        let ops = json!([
            insert_op("ok-1", "items", json!({"name": "apple", "id": "a"})),
            insert_op("bad", "items", json!({"name": "bread", "qty": -5, "id": "b"})),
            {"op_id": "stale", "table": "items", "action": "update", "data": {"id": "old", "name": "new"}, "base_version": 0},
            {"op_id": "missing", "table": "items", "action": "update", "data": {"id": "nope", "name": "x"}},
            {"op_id": "unknown", "table": "nope", "action": "insert", "data": {"id": "x"}},
            insert_op("ok-2", "items", json!({"name": "cake", "id": "c"})),
        ]);
        let (status, body) = server.push(&clerk(1), "d", false, ops).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body["success"], false);
        let ids = |list: &str| -> Vec<String> {
            body[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["op_id"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(ids("applied"), ["ok-1", "ok-2"]);
        assert_eq!(ids("conflicts"), ["stale"]);
        assert_eq!(ids("errors"), ["bad", "missing", "unknown"]);
        let codes: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["error"]["code"].as_str().unwrap())
            .collect();
        assert_eq!(
            codes,
            ["validation_failed", "row_not_found", "unknown_table"]
        );
        assert_eq!(body["errors"][0]["error"]["field"], "qty");
        let keys: Vec<Value> = all_changes(&server, &admin(), "")
            .await
            .iter()
            .map(|c| c["key"].clone())
            .collect();
        assert_eq!(keys, [json!("old"), json!("a"), json!("c")], "{backend:?}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_op_id_returns_the_first_result_and_writes_nothing() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let ops = json!([insert_op("op-1", "items", json!({"name": "apple", "id": "a"})), {"op_id": "op-2", "table": "items", "action": "update", "data": {"id": "a", "qty": 1}}]);
        let (_, first) = server.push(&clerk(1), "dev-1", true, ops.clone()).await;
        let (status, second) = server.push(&clerk(1), "dev-1", true, ops.clone()).await;
        assert_eq!(status, 200, "{second}");
        for index in 0..2 {
            assert_eq!(second["applied"][index]["replayed"], true, "{second}");
            assert_eq!(
                second["applied"][index]["version"],
                first["applied"][index]["version"]
            );
            // The row as it is now, not as it was: a client applying a retried answer after
            // pulling newer changes must not roll its copy back.
            assert_eq!(second["applied"][index]["row"], first["applied"][1]["row"]);
        }
        let changes = all_changes(&server, &admin(), "").await;
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0]["version"], 2,
            "{backend:?}: the replay wrote nothing"
        );

        // The same op id from another device is another operation.
        let (_, other) = server
            .push(&clerk(1), "dev-2", true, json!([{"op_id": "op-2", "table": "items", "action": "update", "data": {"id": "a", "qty": 5}}]))
            .await;
        assert_eq!(other["applied"][0]["replayed"], false);
        assert_eq!(other["applied"][0]["version"], 3);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_leave_versioned_tombstones() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        server
            .push(
                &clerk(1),
                "d",
                true,
                json!([insert_op("1", "items", json!({"name": "apple", "id": "a"}))]),
            )
            .await;
        let delete = json!([{"table": "items", "action": "delete", "data": {"id": "a"}}]);
        let (status, body) = server.push(&clerk(1), "d", true, delete.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (
                body["applied"][0]["version"].clone(),
                body["applied"][0]["deleted"].clone()
            ),
            (json!(2), json!(true))
        );
        let (_, again) = server.push(&clerk(1), "d", true, delete).await;
        assert_eq!(
            again["applied"][0]["version"], 2,
            "deleting twice changes nothing"
        );

        let changes = all_changes(&server, &admin(), "").await;
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0]["deleted"].clone(), changes[0]["version"].clone()),
            (json!(true), json!(2))
        );
        let (status, _) = server
            .get_as(&clerk(1), &format!("{API}/tables/items/rows/a"))
            .await;
        assert_eq!(status, 404);

        // Inserting the key again starts a new life with a newer version.
        let (_, body) = server
            .push(
                &clerk(1),
                "d",
                true,
                json!([insert_op("2", "items", json!({"name": "again", "id": "a"}))]),
            )
            .await;
        assert_eq!(body["applied"][0]["version"], 3, "{body}");
        // Upsert updates an existing row and creates a missing one.
        let upserts = json!([
            {"table": "items", "action": "upsert", "data": {"id": "a", "qty": 4}},
            {"table": "items", "action": "upsert", "data": {"id": "n", "name": "new"}},
        ]);
        let (_, body) = server.push(&clerk(1), "d", true, upserts).await;
        assert_eq!(body["applied"][0]["row"]["name"], "again");
        assert_eq!(body["applied"][0]["version"], 4);
        assert_eq!(body["applied"][1]["version"], 1);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_002_requests_work_at_an_empty_prefix() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
        let mut config = sandbox.config();
        config.server.api_prefix = String::new();
        let server = TestServer::start(config).await;
        let body = json!({
            "device_id": "shop_01",
            "operations": [
                {"table": "items", "action": "insert", "data": {"id": "123", "branch_id": 1, "name": "sale", "qty": 1000}},
                {"table": "items", "action": "update", "data": {"id": "123", "qty": 20}}
            ]
        });
        let (status, answer) = server
            .post_as(&admin_with_branch(), "/sync/push", &body)
            .await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
        assert_eq!(answer["success"], true);
        let (status, pulled) = server
            .post_as(
                &admin_with_branch(),
                "/sync/pull",
                &json!({"tables": ["items"], "limit": 500}),
            )
            .await;
        assert_eq!(status, 200, "{pulled}");
        assert_eq!(pulled["success"], true);
        assert_eq!(pulled["limit"], 500);
        assert_eq!(pulled["data"]["items"][0]["qty"], 20);
        server.stop().await;
    }
}

/// Seed 002 has no scopes: a head-office token writes rows with their branch given.
fn admin_with_branch() -> String {
    token("head-office", "ADMIN", None)
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_bodies_and_oversized_batches_are_refused() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
    let mut config = sandbox.config();
    config.sync.max_batch = 2;
    config.server.max_body_bytes = 4096;
    let server = TestServer::start(config).await;

    let response = server
        .client
        .post(server.url(&format!("{API}/sync/push")))
        .bearer_auth(admin())
        .header("content-type", "application/json")
        .body("{\"device_id\": \"d\",\n \"operations\": [}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_json", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{body}"
    );

    let response = server
        .client
        .post(server.url(&format!("{API}/tables/items/push")))
        .bearer_auth(admin())
        .body("{\"device_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_json", "{body}");
    assert_eq!(body["error"]["details"]["line"], 1, "{body}");

    let three = json!([
        insert_op("1", "items", json!({"name": "a", "id": "a"})),
        insert_op("2", "items", json!({"name": "b", "id": "b"})),
        insert_op("3", "items", json!({"name": "c", "id": "c"}))
    ]);
    let (status, body) = server.push(&admin(), "d", true, three).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sync.max_batch")
    );

    let big = "x".repeat(5000);
    let (status, body) = server
        .push(
            &admin(),
            "d",
            true,
            json!([insert_op("1", "items", json!({"name": big, "id": "a"}))]),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn both_push_endpoints_refuse_fields_they_do_not_know_and_write_nothing() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let item = |extra: Value| {
            let mut op = insert_op("1", "items", json!({"name": "a", "id": "a"}));
            op.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            op
        };
        let cases = [
            (
                format!("{API}/sync/push"),
                json!({"device_id": "d", "operations": [item(json!({}))], "extra": 1}),
                "unknown field `extra`",
            ),
            (
                format!("{API}/sync/push"),
                json!({"device_id": "d", "operations": [item(json!({"colour": "red"}))]}),
                "unknown field `colour`",
            ),
            (
                format!("{API}/sync/push"),
                json!({"device_id": "d", "operations": [{"action": "insert", "data": {"id": "a"}}]}),
                "operations[0]: missing field `table`",
            ),
            (
                format!("{API}/tables/items/push"),
                json!({"device_id": "d", "operations": [item(json!({}))]}),
                "operations[0]: unknown field `table`",
            ),
        ];
        for (path, body, expected) in cases {
            let (status, answer) = server.post_as(&admin(), &path, &body).await;
            assert_eq!(status, 400, "{backend:?} {path} {body}: {answer}");
            assert_eq!(answer["error"]["code"], "bad_request", "{answer}");
            assert!(
                answer["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(expected),
                "{backend:?} {body}: {answer}"
            );
        }
        let written = all_changes(&server, &admin(), "").await;
        assert!(written.is_empty(), "{backend:?}: {written:?}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_pushes_of_one_new_key_and_one_op_id_apply_once() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let server = std::sync::Arc::new(server);
        // Eight devices insert the same new key at once: one insert applies, the others see
        // the row and answer a conflict (nobody's row is overwritten, nobody gets a 5xx).
        let mut tasks = Vec::new();
        for n in 0..8 {
            let server = server.clone();
            tasks.push(tokio::spawn(async move {
                let op = json!([{"op_id": "x", "table": "items", "action": "insert",
                                 "data": {"id": "same", "branch_id": 1, "name": format!("n{n}")}}]);
                server.push(&clerk(1), &format!("dev-{n}"), true, op).await
            }));
        }
        let mut applied = 0;
        for task in tasks {
            let (status, body) = task.await.unwrap();
            assert_eq!(status, 200, "{backend:?}: {body}");
            applied += body["applied"].as_array().unwrap().len();
        }
        assert_eq!(applied, 1, "{backend:?}");
        // One device sends the same op id eight times at once: one write, seven replays.
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let server = server.clone();
            tasks.push(tokio::spawn(async move {
                let op = json!([{"op_id": "y", "table": "items", "action": "insert",
                                 "data": {"id": "once", "branch_id": 1, "name": "once"}}]);
                server.push(&clerk(1), "dev-y", true, op).await
            }));
        }
        let mut replays = 0;
        for task in tasks {
            let (status, body) = task.await.unwrap();
            assert_eq!(status, 200, "{backend:?}: {body}");
            replays += usize::from(body["applied"][0]["replayed"] == true);
        }
        assert_eq!(replays, 7, "{backend:?}");
        let changes = all_changes(&server, &admin(), "").await;
        assert_eq!(changes.len(), 2, "{backend:?}: {changes:?}");
        assert_eq!(changes[1]["version"], 1, "{backend:?}: written once");
    }
}

/// A body naming a key twice in one object: 422 naming the key and its place, nothing written
/// (JSON parsers disagree on which of the two wins).
#[tokio::test(flavor = "multi_thread")]
async fn a_key_sent_twice_is_refused_with_its_place() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let cases = [
            (
                format!("{API}/sync/push"),
                r#"{"device_id":"d","operations":[{"table":"items","action":"insert","data":{"id":"dup","name":"a","name":"b"}}]}"#,
                "operations[0].data.name",
            ),
            (
                format!("{API}/sync/push"),
                r#"{"device_id":"d","device_id":"e","operations":[{"table":"items","action":"insert","data":{"id":"dup","name":"a"}}]}"#,
                "device_id",
            ),
            (
                format!("{API}/tables/items/push"),
                r#"{"device_id":"d","operations":[{"action":"insert","action":"upsert","data":{"id":"dup","name":"a"}}]}"#,
                "operations[0].action",
            ),
            (
                format!("{API}/sync/devices"),
                r#"{"name":"a","name":"b","platform":"web","app_version":"1"}"#,
                "name",
            ),
            (
                format!("{API}/sync/pull"),
                r#"{"tables":["items"],"limit":5,"limit":6}"#,
                "limit",
            ),
        ];
        for (url, body, field) in cases {
            let response = server
                .client
                .post(server.url(&url))
                .bearer_auth(clerk(1))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let answer: Value = response.json().await.unwrap();
            assert_eq!(status, 422, "{backend:?} {url}: {answer}");
            assert_eq!(answer["error"]["code"], "validation_failed", "{answer}");
            assert_eq!(answer["error"]["details"]["field"], field, "{answer}");
        }
        let (_, page) = server
            .get_as(&clerk(1), &format!("{API}/sync/changes"))
            .await;
        assert_eq!(page["changes"], json!([]), "{backend:?}: nothing written");
        let (_, devices) = server
            .get_as(&clerk(1), &format!("{API}/sync/devices"))
            .await;
        assert_eq!(
            devices["devices"],
            json!([]),
            "{backend:?}: nothing registered"
        );
        server.stop().await;
    }
}

/// What the document does not allow is refused, not read leniently: a value of another JSON
/// type than declared, and `null` for a required field; `null` for an optional field is the same
/// as leaving it out (the document says nullable).
#[tokio::test(flavor = "multi_thread")]
async fn other_types_than_declared_are_refused_and_null_means_absent() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let insert = |op: Value| json!({"device_id": "d", "operations": [op]});
        let cases = [
            (format!("{API}/sync/pull"), json!({"cursor": 5}), 422),
            (format!("{API}/sync/pull"), json!({"tables": [1]}), 422),
            (format!("{API}/sync/log/retry"), json!({"ids": ["1"]}), 422),
            (
                format!("{API}/sync/devices"),
                json!({"name": "a", "platform": "web", "app_version": false}),
                422,
            ),
            (
                format!("{API}/sync/devices"),
                json!({"name": null, "platform": "web", "app_version": "1"}),
                422,
            ),
            (
                format!("{API}/sync/push"),
                insert(
                    json!({"op_id": 5, "table": "items", "action": "insert", "data": {"id": "n", "name": "n"}}),
                ),
                400,
            ),
            (
                format!("{API}/sync/push"),
                insert(
                    json!({"table": "items", "action": "update", "data": {"id": "n", "_version": "2"}}),
                ),
                422,
            ),
            // Optional fields sent as null.
            (
                format!("{API}/sync/pull"),
                json!({"cursor": null, "limit": null}),
                200,
            ),
            (
                format!("{API}/sync/push"),
                json!({"device_id": "d", "atomic": null, "operations": [{"op_id": null, "table": "items", "action": "insert", "data": {"id": "n", "name": "n"}, "base_version": null}]}),
                200,
            ),
        ];
        for (url, body, expected) in cases {
            let (status, answer) = server.post_as(&clerk(1), &url, &body).await;
            assert_eq!(status, expected, "{backend:?} {url} {body}: {answer}");
        }
        let (_, devices) = server
            .get_as(&clerk(1), &format!("{API}/sync/devices"))
            .await;
        assert_eq!(
            devices["devices"],
            json!([]),
            "{backend:?}: nothing registered"
        );
        server.stop().await;
    }
}
