//! Keys the gateway assigns (`key_assigned_by = "server"`): an insert without its key gets the
//! next integer of the gateway's range (or a UUID), the answer says which, a retry answers the
//! same, later operations of the batch use it with `key_of`, and an edge's keys never meet the
//! hub's.

mod common;

use common::process::{Gateway, edge_keys, free_port};
use common::{API, Backend, Sandbox, TestServer, backends, token, token_with};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SCHEMA: &str = r#"
[roles.TECH]
scope = "all"

[tables.form_fills]
key_assigned_by = "server"
permissions = { TECH = "crud" }
[tables.form_fills.columns]
id = { type = "integer" }
title = { type = "text" }

[tables.photos]
key_assigned_by = "server"
permissions = { TECH = "crud" }
[tables.photos.columns]
id = { type = "uuid" }
form_fill_id = { type = "integer" }

[tables.notes]
permissions = { TECH = "crud" }
[tables.notes.columns]
id = { type = "text" }
form_fill_id = { type = "integer", nullable = true }
"#;

async fn server(backend: Backend) -> (Sandbox, TestServer) {
    let sandbox = Sandbox::new(backend).await;
    sandbox.write_schema("forms.toml", SCHEMA);
    let server = TestServer::start(sandbox.config()).await;
    (sandbox, server)
}

fn op(op_id: &str, table: &str, action: &str, data: Value) -> Value {
    json!({"op_id": op_id, "table": table, "action": action, "data": data})
}

fn keys(answer: &Value) -> Vec<Value> {
    answer["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["key"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn inserts_without_a_key_get_one_and_later_operations_use_it() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        let tech = token("t1", "TECH", None);
        let batch = json!([
            op("f1", "form_fills", "insert", json!({"title": "boiler"})),
            op("f2", "form_fills", "insert", json!({"title": "roof"})),
            op(
                "p1",
                "photos",
                "insert",
                json!({"form_fill_id": {"key_of": "f2"}})
            ),
            op(
                "n1",
                "notes",
                "insert",
                json!({"id": "n", "form_fill_id": {"key_of": "f1"}})
            ),
        ]);
        let (status, first) = server.push(&tech, "tablet", true, batch.clone()).await;
        assert_eq!(status, 200, "{backend:?}: {first}");
        let assigned = keys(&first);
        assert_eq!(assigned[..2], [json!(1), json!(2)], "{first}");
        let photo = assigned[2].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(photo).is_ok(), "{first}");
        assert_eq!(first["applied"][0]["row"]["id"], 1, "{first}");
        assert_eq!(first["applied"][2]["row"]["form_fill_id"], 2, "{first}");
        assert_eq!(first["applied"][3]["row"]["form_fill_id"], 1, "{first}");

        // A retry (the answer was lost) gets the same keys and writes nothing new.
        let (_, again) = server.push(&tech, "tablet", true, batch).await;
        assert_eq!(keys(&again), assigned, "{again}");
        assert!(
            again["applied"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["replayed"] == true),
            "{again}"
        );
        let (_, page) = server.get_as(&tech, &format!("{API}/sync/changes")).await;
        assert_eq!(page["changes"].as_array().unwrap().len(), 4, "{page}");

        // A key sent is used as it is; the next assigned one goes past it, and past deleted ones.
        let sent = json!([op(
            "f3",
            "form_fills",
            "insert",
            json!({"id": 10, "title": "sent"})
        )]);
        assert_eq!(server.push(&tech, "tablet", true, sent).await.0, 200);
        let batch = json!([
            op("f4", "form_fills", "insert", json!({"title": "after"})),
            op(
                "f5",
                "form_fills",
                "delete",
                json!({"id": {"key_of": "f4"}})
            ),
        ]);
        let (status, answer) = server.push(&tech, "tablet", true, batch).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(keys(&answer), [json!(11), json!(11)], "{answer}");
        assert_eq!(answer["applied"][1]["deleted"], true, "{answer}");
        let (_, answer) = server
            .push(
                &tech,
                "tablet",
                true,
                json!([op("f6", "form_fills", "upsert", json!({"title": "next"}))]),
            )
            .await;
        assert_eq!(
            keys(&answer),
            [json!(12)],
            "a deleted key is not given again: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_key_or_a_bad_reference_is_refused_and_nothing_is_written() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        let tech = token("t1", "TECH", None);
        let cases = [
            (
                json!([op("n", "notes", "insert", json!({"form_fill_id": 1}))]),
                "id",
                "a table whose clients send keys",
            ),
            (
                json!([
                    op("f1", "form_fills", "insert", json!({"title": "x"})),
                    op(
                        "p1",
                        "photos",
                        "insert",
                        json!({"form_fill_id": {"key_of": "f9"}})
                    ),
                ]),
                "form_fill_id",
                "key_of an op id not in the batch",
            ),
            (
                json!([
                    op(
                        "p1",
                        "photos",
                        "insert",
                        json!({"form_fill_id": {"key_of": "p2"}})
                    ),
                    op("p2", "form_fills", "insert", json!({"title": "later"})),
                ]),
                "form_fill_id",
                "key_of a later operation",
            ),
            (
                json!([op("u", "form_fills", "update", json!({"title": "no key"}))]),
                "id",
                "an update without its key",
            ),
        ];
        for (batch, field, what) in cases {
            let (status, body) = server.push(&tech, "tablet", true, batch).await;
            assert_eq!(status, 422, "{backend:?} {what}: {body}");
            assert_eq!(body["error"]["details"]["field"], field, "{what}: {body}");
        }
        let (_, page) = server.get_as(&tech, &format!("{API}/sync/changes")).await;
        assert_eq!(page["changes"], json!([]), "nothing written: {page}");
        // The document marks the key optional where the gateway assigns it.
        let document: Value = server.get("/openapi.json").await.json().await.unwrap();
        let required = |schema: &str| document["components"]["schemas"][schema]["required"].clone();
        assert!(
            !required("form_fills_Patch").to_string().contains("\"id\""),
            "{}",
            required("form_fills_Patch")
        );
        assert!(required("notes_Patch").to_string().contains("\"id\""));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_pushes_get_distinct_keys() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        let tech = token("t1", "TECH", None);
        let pushes = (0..4).map(|device| {
            let server = &server;
            let tech = &tech;
            async move {
                let batch: Vec<Value> = (0..20)
                    .map(|i| {
                        op(
                            &format!("{device}:{i}"),
                            "form_fills",
                            "insert",
                            json!({"title": "x"}),
                        )
                    })
                    .collect();
                let (status, answer) = server
                    .push(tech, &format!("tablet-{device}"), true, Value::Array(batch))
                    .await;
                assert_eq!(status, 200, "{answer}");
                keys(&answer)
            }
        });
        let mut all: Vec<i64> = futures_util::future::join_all(pushes)
            .await
            .into_iter()
            .flatten()
            .map(|key| key.as_i64().unwrap())
            .collect();
        all.sort();
        assert_eq!(all, (1..=80).collect::<Vec<i64>>(), "{backend:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edge_assigns_keys_from_its_own_range_and_the_hub_takes_them() {
    for backend in backends() {
        let hub_sandbox = Sandbox::new(backend).await;
        hub_sandbox.write_schema("forms.toml", SCHEMA);
        let hub_port = free_port();
        let mut hub = Gateway::new(
            hub_sandbox.write_config("[jobs.maintenance]\nschedule = \"\"\n"),
            hub_port,
        );
        hub.start().await;
        let edge_sandbox = Sandbox::new(Backend::Sqlite).await;
        edge_sandbox.write_schema("forms.toml", SCHEMA);
        let edge_token = token_with("edge-1", "TECH", None, Default::default(), 86_400);
        let upstream = edge_keys(hub_port, &edge_token, "edge-1", "* * * * * *")
            + "\n[jobs.maintenance]\nschedule = \"\"\n";
        // An edge left in the hub's range would assign the hub's keys: it does not start.
        let refused = std::process::Command::new(common::binary())
            .args(["check", "--offline", "--config"])
            .arg(edge_sandbox.write_config(&upstream))
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&refused.stderr),
            String::from_utf8_lossy(&refused.stdout)
        );
        assert!(!refused.status.success(), "{said}");
        assert!(said.contains("sync.key_node"), "{said}");

        let mut edge = Gateway::new(
            edge_sandbox.write_config(&format!("[sync]\nkey_node = 1\n\n{upstream}")),
            free_port(),
        );
        edge.start().await;
        let tech = token("t1", "TECH", None);
        let insert = json!([op(
            "f1",
            "form_fills",
            "insert",
            json!({"title": "at the edge"})
        )]);
        let (status, at_edge) = edge.push(&tech, "tablet", true, insert).await;
        assert_eq!(status, 200, "{at_edge}");
        assert_eq!(keys(&at_edge), [json!(1_i64 << 40)], "{at_edge}");
        let insert = json!([op(
            "f1",
            "form_fills",
            "insert",
            json!({"title": "at the hub"})
        )]);
        let (_, at_hub) = hub.push(&tech, "office", true, insert).await;
        assert_eq!(keys(&at_hub), [json!(1)], "{at_hub}");

        let deadline = Instant::now() + Duration::from_secs(20);
        let rows = loop {
            let (_, page) = hub.get_as(&tech, &format!("{API}/sync/changes")).await;
            let rows: Vec<(Value, Value)> = page["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c["key"].clone(), c["row"]["title"].clone()))
                .collect();
            if rows.len() == 2 || Instant::now() > deadline {
                break rows;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            rows,
            [
                (json!(1), json!("at the hub")),
                (json!(1_i64 << 40), json!("at the edge"))
            ],
            "{backend:?}: both rows at the hub, each under its own key"
        );
        // The hub's next key stays in its range.
        let insert = json!([op("f2", "form_fills", "insert", json!({"title": "next"}))]);
        let (_, next) = hub.push(&tech, "office", true, insert).await;
        assert_eq!(keys(&next), [json!(2)], "{next}");
    }
}
