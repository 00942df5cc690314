//! Schema features the seed systems need, on every backend: every conflicting write answers
//! with its conflict (strategy, resolution, server and client rows), `updated_at_column` never
//! moves backwards, `stamp_updated_at`, deletes that record their time under
//! `last_write_wins`, `merge` JSON columns, an owner scope with assignees, and status counts
//! by a declared column.

mod common;

use common::*;
use serde_json::{Value, json};

const SCHEMA: &str = r#"
[roles.ADMIN]
scope = "all"
[roles.TECH]
scope = "owner"

# Seed 001: inspections owned by a technician and visible to those assigned to them; counted
# by status.
[tables.inspections]
owner_column = "owner"
assignees_column = "assigned_to"
status_column = "status"
permissions = { ADMIN = "crud", TECH = "cru" }
[tables.inspections.columns]
id = { type = "text" }
owner = { type = "text" }
assigned_to = { type = "json", default = [] }
status = { type = "enum", values = ["pending", "completed"], default = "pending" }
notes = { type = "text", nullable = true }

# Seed 001: form fills with optimistic locking on updated_at, stamped by the server, and a
# data hash merged key by key on every update.
[tables.form_fills]
owner_column = "owner"
conflict = "server_wins"
conflict_detection = "updated_at"
stamp_updated_at = true
permissions = { ADMIN = "crud", TECH = "cru" }
[tables.form_fills.columns]
id = { type = "integer" }
owner = { type = "text" }
data = { type = "json", default = {}, merge = true }
updated_at = { type = "timestamp", nullable = true }

[tables.notes_lww]
conflict = "last_write_wins"
permissions = { ADMIN = "crud" }
[tables.notes_lww.columns]
id = { type = "text" }
body = { type = "text", nullable = true }
updated_at = { type = "timestamp", nullable = true }

[tables.notes_merge]
conflict = "merge"
conflict_detection = "updated_at"
permissions = { ADMIN = "crud" }
[tables.notes_merge.columns]
id = { type = "text" }
body = { type = "text", nullable = true }
extra = { type = "json", nullable = true }
updated_at = { type = "timestamp", nullable = true }
"#;

fn tech(name: &str) -> String {
    token(name, "TECH", None)
}

async fn server_with_features(backend: Backend) -> (Sandbox, TestServer) {
    let sandbox = Sandbox::new(backend).await;
    sandbox.write_schema("features.toml", SCHEMA);
    let server = TestServer::start(sandbox.config()).await;
    (sandbox, server)
}

async fn push_one(server: &TestServer, token: &str, op: Value) -> Value {
    let (status, body) = server.push(token, "device-1", false, json!([op])).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn time(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("{value}")))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_conflicting_write_answers_with_both_rows() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        // One stale write per strategy: the answer carries strategy, resolution and both rows,
        // whether the write was applied or not.
        let cases = [
            ("items", "name", "server_wins", "server_kept", false),
            ("t_client", "body", "client_wins", "client_applied", true),
            ("t_merge", "body", "merge", "merged", true),
            ("t_manual", "body", "manual", "queued", false),
        ];
        for (table, column, strategy, resolution, applied) in cases {
            let insert =
                json!({"table": table, "action": "insert", "data": {"id": "a", column: "first"}});
            push_one(&server, &clerk(1), insert).await;
            let update =
                json!({"table": table, "action": "update", "data": {"id": "a", column: "server"}});
            push_one(&server, &clerk(1), update).await;
            let stale = json!({"table": table, "action": "update", "data": {"id": "a", column: "client"}, "base_version": 1});
            let body = push_one(&server, &clerk(1), stale).await;
            let list = if applied { "applied" } else { "conflicts" };
            let result = &body[list][0];
            let conflict = &result["conflict"];
            assert_eq!(
                conflict["strategy"], strategy,
                "{backend:?} {table}: {body}"
            );
            assert_eq!(conflict["resolution"], resolution, "{table}: {body}");
            assert_eq!(conflict["server_row"][column], "server", "{table}: {body}");
            assert_eq!(conflict["server_row"]["_version"], 2, "{table}: {body}");
            assert_eq!(conflict["client_row"][column], "client", "{table}: {body}");
            let stored = if applied { "client" } else { "server" };
            let (_, row) = server
                .get_as(&clerk(1), &format!("{API}/tables/{table}/rows/a"))
                .await;
            assert_eq!(row[column], stored, "{table}: {row}");
        }
        // A write without a conflict carries none.
        let body = push_one(
            &server,
            &clerk(1),
            json!({"table": "t_client", "action": "update", "data": {"id": "a", "body": "fresh"}}),
        )
        .await;
        assert!(body["applied"][0].get("conflict").is_none(), "{body}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn updated_at_never_moves_backwards_and_a_delete_records_its_time() {
    for backend in backends() {
        let (_sandbox, server) = server_with_features(backend).await;
        let admin = admin();
        // Merge with updated_at detection: an older write is merged but keeps the newer time.
        push_one(
            &server,
            &admin,
            json!({"table": "notes_merge", "action": "insert",
            "data": {"id": "m", "body": "server", "updated_at": "2024-03-15T10:32:00Z"}}),
        )
        .await;
        let body = push_one(
            &server,
            &admin,
            json!({"table": "notes_merge", "action": "update",
            "data": {"id": "m", "body": "client", "updated_at": "2024-03-15T10:30:00Z"}}),
        )
        .await;
        let result = &body["applied"][0];
        assert_eq!(
            result["conflict"]["resolution"], "merged",
            "{backend:?}: {body}"
        );
        assert_eq!(
            result["conflict"]["server_row"]["updated_at"],
            "2024-03-15T10:32:00Z"
        );
        assert_eq!(result["row"]["body"], "client");
        assert_eq!(
            time(&result["row"]["updated_at"]),
            time(&json!("2024-03-15T10:32:00Z")),
            "not moved back to the client's 10:30: {body}"
        );

        // Last write wins: a delete records when it happened, so an update made before the
        // delete does not bring the row back, by update or by upsert.
        let now = chrono::Utc::now();
        let at = |offset: i64| (now + chrono::Duration::seconds(offset)).to_rfc3339();
        push_one(
            &server,
            &admin,
            json!({"table": "notes_lww", "action": "insert",
            "data": {"id": "l", "body": "first", "updated_at": at(-60)}}),
        )
        .await;
        let body = push_one(
            &server,
            &admin,
            json!({"table": "notes_lww", "action": "delete",
            "data": {"id": "l"}}),
        )
        .await;
        assert_eq!(body["applied"][0]["deleted"], true, "{body}");
        for action in ["update", "upsert"] {
            let body = push_one(
                &server,
                &admin,
                json!({"table": "notes_lww", "action": action,
                "data": {"id": "l", "body": "older than the delete", "updated_at": at(-20)}}),
            )
            .await;
            let conflict = &body["conflicts"][0]["conflict"];
            assert_eq!(
                conflict["resolution"], "server_kept",
                "{backend:?} {action}: {body}"
            );
            let (status, _) = server
                .get_as(&admin, &format!("{API}/tables/notes_lww/rows/l"))
                .await;
            assert_eq!(status, 404, "{action} did not revive the row");
        }
        // A write made after the delete does.
        let body = push_one(
            &server,
            &admin,
            json!({"table": "notes_lww", "action": "update",
            "data": {"id": "l", "body": "after the delete", "updated_at": at(20)}}),
        )
        .await;
        assert_eq!(
            body["applied"][0]["conflict"]["resolution"], "client_applied",
            "{body}"
        );
        let (status, row) = server
            .get_as(&admin, &format!("{API}/tables/notes_lww/rows/l"))
            .await;
        assert_eq!(
            (status, &row["body"]),
            (200, &json!("after the delete")),
            "{row}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_stamps_updated_at_and_merges_json_on_every_update() {
    for backend in backends() {
        let (_sandbox, server) = server_with_features(backend).await;
        let alice = tech("alice");
        let before = chrono::Utc::now();
        let body = push_one(
            &server,
            &alice,
            json!({"table": "form_fills", "action": "insert",
            "data": {"id": 456, "data": {"Building_Name": "Main", "photo_1": "att-1"},
                     "updated_at": "2001-01-01T00:00:00Z"}}),
        )
        .await;
        let stamped = body["applied"][0]["row"]["updated_at"].clone();
        assert!(
            time(&stamped) >= before,
            "the server's time, not the client's: {body}"
        );

        // The client sends the updated_at it last saw: no conflict; the data hash is merged
        // key by key (photo_1, only on the server, survives) and the time is stamped again.
        let body = push_one(
            &server,
            &alice,
            json!({"table": "form_fills", "action": "update",
            "data": {"id": 456, "data": {"Building_Name": "Annex"}, "updated_at": stamped}}),
        )
        .await;
        let row = &body["applied"][0]["row"];
        assert!(
            body["applied"][0].get("conflict").is_none(),
            "{backend:?}: {body}"
        );
        assert_eq!(
            row["data"],
            json!({"Building_Name": "Annex", "photo_1": "att-1"}),
            "{body}"
        );
        assert!(time(&row["updated_at"]) >= time(&stamped));
        let latest = row["updated_at"].clone();

        // An update based on an older updated_at conflicts: server_wins keeps the row and the
        // answer carries both versions (seed 001's conflict_data).
        let body = push_one(
            &server,
            &alice,
            json!({"table": "form_fills", "action": "update",
            "data": {"id": 456, "data": {"Building_Name": "Stale"}, "updated_at": stamped}}),
        )
        .await;
        let conflict = &body["conflicts"][0]["conflict"];
        assert!(
            time(&latest) > time(&stamped),
            "a later write, a later stamp"
        );
        assert_eq!(conflict["resolution"], "server_kept", "{body}");
        assert_eq!(conflict["server_row"]["data"]["Building_Name"], "Annex");
        assert_eq!(conflict["client_row"]["data"]["Building_Name"], "Stale");
        assert_eq!(conflict["server_row"]["updated_at"], latest);

        // resolve: use_local forces it, still merged and stamped.
        let body = push_one(
            &server,
            &alice,
            json!({"table": "form_fills", "action": "update",
            "data": {"id": 456, "data": {"Building_Name": "Forced"}, "updated_at": stamped},
            "resolve": "use_local"}),
        )
        .await;
        let result = &body["applied"][0];
        assert_eq!(result["conflict"]["resolution"], "client_applied", "{body}");
        assert_eq!(
            result["row"]["data"],
            json!({"Building_Name": "Forced", "photo_1": "att-1"})
        );
        assert!(time(&result["row"]["updated_at"]) >= time(&latest));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn assignees_reach_a_row_like_its_owner_and_nobody_else_does() {
    for backend in backends() {
        let (_sandbox, server) = server_with_features(backend).await;
        let (alice, bob, carol) = (tech("alice"), tech("bob"), tech("carol"));
        push_one(
            &server,
            &alice,
            json!({"table": "inspections", "action": "insert",
            "data": {"id": "i1", "assigned_to": ["bob"], "notes": "alice's"}}),
        )
        .await;
        push_one(
            &server,
            &alice,
            json!({"table": "inspections", "action": "insert",
            "data": {"id": "i2", "notes": "alice only"}}),
        )
        .await;

        // bob, assigned to i1, reads it through every read path, and not i2.
        let (status, row) = server
            .get_as(&bob, &format!("{API}/tables/inspections/rows/i1"))
            .await;
        assert_eq!(
            (status, &row["owner"]),
            (200, &json!("alice")),
            "{backend:?}: {row}"
        );
        let (status, _) = server
            .get_as(&bob, &format!("{API}/tables/inspections/rows/i2"))
            .await;
        assert_eq!(status, 404);
        let keys = |changes: Vec<Value>| -> Vec<Value> {
            changes.iter().map(|c| c["key"].clone()).collect()
        };
        assert_eq!(
            keys(all_changes(&server, &bob, "").await),
            vec![json!("i1")]
        );
        let (_, pulled) = server
            .post_as(
                &bob,
                &format!("{API}/sync/pull"),
                &json!({"tables": ["inspections"]}),
            )
            .await;
        assert_eq!(
            pulled["data"]["inspections"].as_array().unwrap().len(),
            1,
            "{pulled}"
        );

        // ... and writes it; carol, not assigned, can do neither.
        let body = push_one(
            &server,
            &bob,
            json!({"table": "inspections", "action": "update",
            "data": {"id": "i1", "status": "completed"}}),
        )
        .await;
        assert_eq!(body["applied"][0]["row"]["status"], "completed", "{body}");
        for (key, action) in [("i1", "update"), ("i2", "update"), ("i1", "insert")] {
            let body = push_one(
                &server,
                &carol,
                json!({"table": "inspections", "action": action,
                "data": {"id": key, "notes": "carol was here"}}),
            )
            .await;
            let code = &body["errors"][0]["error"]["code"];
            assert!(
                code == "row_not_found" || code == "key_taken",
                "{action} {key}: {body}"
            );
        }
        let (status, _) = server
            .get_as(&carol, &format!("{API}/tables/inspections/rows/i1"))
            .await;
        assert_eq!(status, 404);
        assert!(all_changes(&server, &carol, "").await.is_empty());
        // A row may not be handed to someone else's scope by its writer.
        let body = push_one(
            &server,
            &bob,
            json!({"table": "inspections", "action": "update",
            "data": {"id": "i1", "assigned_to": []}}),
        )
        .await;
        assert_eq!(body["errors"][0]["error"]["code"], "forbidden", "{body}");
        let (_, row) = server
            .get_as(&alice, &format!("{API}/tables/inspections/rows/i1"))
            .await;
        assert_eq!(
            row["notes"], "alice's",
            "nothing of carol's or bob's failed writes: {row}"
        );
        assert_eq!(row["assigned_to"], json!(["bob"]));

        // Status counts by the declared column, within each caller's scope.
        let counts = |body: &Value| body["data_summary"]["tables"]["inspections"].clone();
        let (_, status_alice) = server.get_as(&alice, &format!("{API}/sync/status")).await;
        assert_eq!(counts(&status_alice)["status_column"], "status");
        assert_eq!(
            counts(&status_alice)["by_status"],
            json!({"completed": 1, "pending": 1})
        );
        let (_, status_bob) = server.get_as(&bob, &format!("{API}/sync/status")).await;
        assert_eq!(counts(&status_bob)["by_status"], json!({"completed": 1}));
        let (_, status_carol) = server.get_as(&carol, &format!("{API}/sync/status")).await;
        assert_eq!(counts(&status_carol)["by_status"], json!({}));
        assert_eq!(counts(&status_carol)["rows"], 0);
        server.stop().await;
    }
}
