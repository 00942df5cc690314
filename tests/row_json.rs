//! The feed and pull send rows as JSON the database builds; a single row is decoded and
//! serialised by the gateway. Both must say the same thing, value for value, for every column
//! type and awkward value — on every backend.

mod common;

use common::*;
use serde_json::{Value, json};

const SCHEMA: &str = r#"
[roles.ADMIN]
scope = "all"

[tables.everything]
permissions = { ADMIN = "crud" }
[tables.everything.columns]
id = { type = "text" }
n = { type = "integer", nullable = true }
price = { type = "decimal", nullable = true }
ok = { type = "boolean", nullable = true }
at = { type = "timestamp", nullable = true }
day = { type = "date", nullable = true }
ref = { type = "uuid", nullable = true }
doc = { type = "json", nullable = true }
kind = { type = "enum", values = ["a", "b"], nullable = true }
note = { type = "text", nullable = true }
file = { type = "file", nullable = true }

[tables.by_number]
permissions = { ADMIN = "crud" }
[tables.by_number.columns]
id = { type = "integer" }
flag = { type = "boolean", default = false }

# A real column: rows written by the gateway from typed values on every backend.
[tables.measured]
permissions = { ADMIN = "crud" }
[tables.measured.columns]
id = { type = "text" }
x = { type = "real", nullable = true }
at = { type = "timestamp", nullable = true }
doc = { type = "json", nullable = true }
ok = { type = "boolean", nullable = true }
"#;

fn rows() -> Vec<Value> {
    vec![
        json!({"id": "plain", "n": 1, "price": "19.99", "ok": true, "at": "2026-11-28T10:00:00Z",
               "day": "2026-11-28", "ref": "6f1c1e52-3d4b-4c8e-9a55-0c2b7d1e9f10",
               "doc": {"b": 1, "a": [1, 2.5, "x"], "nested": {"k": null}}, "kind": "a",
               "note": "hello"}),
        json!({"id": "nulls"}),
        json!({"id": "millis", "ok": false, "at": "2026-11-28T10:00:00.123Z", "n": -9007199254740993_i64,
               "price": "0.000001", "doc": [], "note": ""}),
        json!({"id": "micros", "at": "2026-11-28T10:00:00.123456Z", "doc": "just a string",
               "note": "quote \" backslash \\ newline \n tab \t bell \u{7} é 漢 😀 </script>"}),
        json!({"id": "offset", "at": "2026-11-28T12:00:00.5+02:00", "doc": {"big": 12345678901234_i64, "neg": -0.25, "t": true}}),
        json!({"id": "year one", "at": "0001-01-01T00:00:00Z", "day": "0001-01-01", "doc": 7}),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_built_by_the_database_match_rows_decoded_by_the_gateway() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("everything.toml", SCHEMA);
        let server = TestServer::start(sandbox.config()).await;
        let ops: Vec<Value> = rows()
            .into_iter()
            .map(|data| json!({"table": "everything", "action": "insert", "data": data}))
            .chain([
                json!({"table": "by_number", "action": "insert", "data": {"id": 7, "flag": true}}),
                json!({"table": "by_number", "action": "insert", "data": {"id": 8}}),
                json!({"table": "measured", "action": "insert", "data": {"id": "m1", "x": 0.1,
                       "at": "2026-11-28T10:00:00.123Z", "doc": {"z": 1, "a": [1e20, -0.0]}, "ok": true}}),
                json!({"table": "measured", "action": "insert", "data": {"id": "m2", "x": 1e300,
                       "doc": "quote \" é"}}),
                json!({"table": "measured", "action": "insert", "data": {"id": "m3", "x": -2.5e-7}}),
            ])
            .collect();
        let (status, body) = server.push(&admin(), "d", true, json!(ops)).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = server
            .push(
                &admin(),
                "d",
                true,
                json!([{"table": "everything", "action": "delete", "data": {"id": "nulls"}}]),
            )
            .await;
        assert_eq!(status, 200, "{body}");

        let changes = all_changes(&server, &admin(), "").await;
        let (_, pulled) = server
            .post_as(&admin(), &format!("{API}/sync/pull"), &json!({}))
            .await;
        assert_eq!(changes.len(), 11, "{backend:?}: {changes:?}");
        for change in &changes {
            let table = change["table"].as_str().unwrap();
            let key = &change["key"];
            let path_key = key
                .as_str()
                .map_or_else(|| key.to_string(), |k| k.replace(' ', "%20"));
            let (status, single) = server
                .get_as(&admin(), &format!("{API}/tables/{table}/rows/{path_key}"))
                .await;
            if change["deleted"] == true {
                assert_eq!(status, 404);
                assert_eq!(change["row"]["id"], "nulls", "the tombstone keeps its row");
                continue;
            }
            assert_eq!(status, 200, "{single}");
            assert_eq!(
                change["row"], single,
                "{backend:?}: the feed's {table} {key}"
            );
            // The same text too: columns in the same order, numbers written alike.
            assert_eq!(
                change["row"].to_string(),
                single.to_string(),
                "{backend:?}: the feed's {table} {key}"
            );
            assert_eq!(change["version"], single["_version"]);
            let in_pull = pulled["data"][table]
                .as_array()
                .unwrap()
                .iter()
                .find(|row| row["id"] == *key)
                .unwrap_or_else(|| panic!("{key} not pulled: {pulled}"));
            assert_eq!(in_pull, &single, "{backend:?}: the pull's {table} {key}");
            assert_eq!(in_pull.to_string(), single.to_string());
        }
        // Spot checks of the shapes themselves.
        let micros = changes.iter().find(|c| c["key"] == "micros").unwrap();
        assert_eq!(micros["row"]["at"], "2026-11-28T10:00:00.123456Z");
        let offset = changes.iter().find(|c| c["key"] == "offset").unwrap();
        assert_eq!(offset["row"]["at"], "2026-11-28T10:00:00.500Z");
        let flagged = changes.iter().find(|c| c["key"] == 7).unwrap();
        assert_eq!(flagged["row"]["flag"], true);
        assert_eq!(flagged["deleted"], false);
        server.stop().await;
    }
}
