//! Conflict detection (row version, `updated_at`) and every strategy: server_wins, client_wins,
//! last_write_wins, merge, manual (queue, list, resolve), `resolve: use_local`, and
//! update-versus-delete — on every backend.

mod common;

use common::{API, admin, backends, clerk, sync_server, token};
use serde_json::{Value, json};

async fn seed(server: &common::TestServer, table: &str, data: Value) -> Value {
    let (status, body) = server
        .push(
            &clerk(1),
            "seed",
            true,
            json!([{"table": table, "action": "insert", "data": data}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["applied"][0].clone()
}

/// Updates row `id` to version 2 from another device, so that a write based on version 1 is stale.
async fn move_on(server: &common::TestServer, table: &str, data: Value) {
    let (status, body) = server
        .push(
            &clerk(1),
            "other-device",
            true,
            json!([{"table": table, "action": "update", "data": data}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"][0]["version"], 2);
}

async fn stale_update(server: &common::TestServer, table: &str, data: Value) -> Value {
    let op_id = uuid::Uuid::new_v4().to_string();
    let ops = json!([{"op_id": op_id, "table": table, "action": "update", "data": data, "base_version": 1}]);
    let (status, body) = server.push(&clerk(1), "device", true, ops).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn server_wins_keeps_the_server_row_and_reports_it() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        seed(&server, "items", json!({"id": "a", "name": "first"})).await;
        move_on(&server, "items", json!({"id": "a", "name": "server"})).await;
        let body = stale_update(&server, "items", json!({"id": "a", "name": "client"})).await;
        let conflict = &body["conflicts"][0];
        assert_eq!(conflict["status"], "conflict", "{backend:?}: {body}");
        assert_eq!(conflict["version"], 2);
        assert_eq!(conflict["row"]["name"], "server");
        assert_eq!(conflict["conflict"]["strategy"], "server_wins");
        assert_eq!(conflict["conflict"]["resolution"], "server_kept");
        let (_, row) = server
            .get_as(&clerk(1), &format!("{API}/tables/items/rows/a"))
            .await;
        assert_eq!(
            (row["name"].clone(), row["_version"].clone()),
            (json!("server"), json!(2))
        );

        // The client may force its row.
        let ops = json!([{"table": "items", "action": "update", "data": {"id": "a", "name": "client"}, "base_version": 1, "resolve": "use_local"}]);
        let (_, forced) = server.push(&clerk(1), "device", true, ops).await;
        assert_eq!(forced["applied"][0]["row"]["name"], "client", "{forced}");
        assert_eq!(forced["applied"][0]["version"], 3);
        // A `_version` sent with the row counts as its base version.
        let ops = json!([{"table": "items", "action": "update", "data": {"id": "a", "name": "old", "_version": 2}}]);
        let (_, body) = server.push(&clerk(1), "device", true, ops).await;
        assert_eq!(body["conflicts"].as_array().unwrap().len(), 1, "{body}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_wins_applies_the_client_row() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        seed(&server, "t_client", json!({"id": "a", "body": "first"})).await;
        move_on(&server, "t_client", json!({"id": "a", "body": "server"})).await;
        let body = stale_update(&server, "t_client", json!({"id": "a", "body": "client"})).await;
        assert_eq!(
            body["applied"][0]["row"]["body"], "client",
            "{backend:?}: {body}"
        );
        assert_eq!(body["applied"][0]["version"], 3);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn last_write_wins_compares_updated_at_and_keeps_the_server_on_ties() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        seed(
            &server,
            "t_lww",
            json!({"id": "a", "body": "first", "updated_at": "2026-11-22T10:00:00Z"}),
        )
        .await;
        move_on(
            &server,
            "t_lww",
            json!({"id": "a", "body": "server", "updated_at": "2026-11-22T12:00:00Z"}),
        )
        .await;

        let older = stale_update(
            &server,
            "t_lww",
            json!({"id": "a", "body": "older", "updated_at": "2026-11-22T11:00:00Z"}),
        )
        .await;
        assert_eq!(
            older["conflicts"][0]["row"]["body"], "server",
            "{backend:?}: {older}"
        );
        let tie = stale_update(
            &server,
            "t_lww",
            json!({"id": "a", "body": "tie", "updated_at": "2026-11-22T13:00:00+01:00"}),
        )
        .await;
        assert_eq!(
            tie["conflicts"][0]["row"]["body"], "server",
            "a tie keeps the server row: {tie}"
        );
        let newer = stale_update(
            &server,
            "t_lww",
            json!({"id": "a", "body": "newer", "updated_at": "2026-11-22T12:00:01Z"}),
        )
        .await;
        assert_eq!(newer["applied"][0]["row"]["body"], "newer", "{newer}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn merge_keeps_fields_and_json_keys_the_client_did_not_send() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        seed(
            &server,
            "t_merge",
            json!({"id": "a", "body": "first", "extra": {"a": 1}}),
        )
        .await;
        move_on(
            &server,
            "t_merge",
            json!({"id": "a", "body": "server", "extra": {"a": 1, "server_only": true}}),
        )
        .await;
        let body = stale_update(
            &server,
            "t_merge",
            json!({"id": "a", "extra": {"a": 2, "client": "x"}}),
        )
        .await;
        let row = &body["applied"][0]["row"];
        assert_eq!(
            row["body"], "server",
            "{backend:?}: a field the client did not send is kept"
        );
        assert_eq!(
            row["extra"],
            json!({"a": 2, "server_only": true, "client": "x"}),
            "{body}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn updated_at_detection_catches_stale_writes_seed_001() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let ana = token("ana", "INSPECTOR", None);
        let id = "00000000-0000-4000-8000-000000000001";
        let form = |data: Value, at: &str| json!([{"table": "forms", "action": "upsert", "data": {"id": id, "data": data, "updated_at": at}}]);
        server
            .push(
                &ana,
                "tablet",
                true,
                form(json!({"q1": "yes"}), "2026-11-22T10:00:00Z"),
            )
            .await;
        server
            .push(
                &ana,
                "phone",
                true,
                form(json!({"q2": "no"}), "2026-11-22T11:00:00Z"),
            )
            .await;
        // The tablet, offline since 10:00, sends an edit stamped 10:30: older than the server's.
        let (_, body) = server
            .push(
                &ana,
                "tablet",
                true,
                form(json!({"q1": "maybe"}), "2026-11-22T10:30:00Z"),
            )
            .await;
        assert_eq!(
            body["applied"].as_array().unwrap().len(),
            1,
            "{backend:?}: merge applies: {body}"
        );
        let row = &body["applied"][0]["row"];
        assert_eq!(
            row["data"],
            json!({"q1": "maybe", "q2": "no"}),
            "server-only keys are kept"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_conflicts_are_queued_listed_and_resolved() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        seed(&server, "t_manual", json!({"id": "a", "body": "first"})).await;
        move_on(&server, "t_manual", json!({"id": "a", "body": "server"})).await;
        let body = stale_update(&server, "t_manual", json!({"id": "a", "body": "client"})).await;
        let conflict = &body["conflicts"][0]["conflict"];
        assert_eq!(conflict["resolution"], "queued", "{backend:?}: {body}");
        let id = conflict["conflict_id"].as_i64().unwrap();
        let (_, row) = server
            .get_as(&clerk(1), &format!("{API}/tables/t_manual/rows/a"))
            .await;
        assert_eq!(row["body"], "server", "nothing applied");

        let (status, list) = server
            .get_as(&clerk(1), &format!("{API}/sync/conflicts"))
            .await;
        assert_eq!(status, 200);
        let open = &list["conflicts"][0];
        assert_eq!(open["id"], id);
        assert_eq!(open["server_row"]["body"], "server");
        assert_eq!(open["client_row"]["body"], "client");
        assert_eq!(
            (open["server_version"].clone(), open["base_version"].clone()),
            (json!(2), json!(1))
        );
        assert_eq!(
            (open["device_id"].clone(), open["user"].clone()),
            (json!("device"), json!("clerk-1"))
        );
        // Scoped: another branch does not see it, nor may it resolve it.
        let (_, other) = server
            .get_as(&clerk(2), &format!("{API}/sync/conflicts"))
            .await;
        assert_eq!(other["conflicts"], json!([]));
        let path = format!("{API}/sync/conflicts/{id}/resolve");
        let (status, _) = server
            .post_as(&clerk(2), &path, &json!({"resolution": "use_local"}))
            .await;
        assert_eq!(status, 404);

        let (status, resolved) = server
            .post_as(&clerk(1), &path, &json!({"resolution": "use_local"}))
            .await;
        assert_eq!(status, 200, "{resolved}");
        assert_eq!(
            (resolved["version"].clone(), resolved["row"]["body"].clone()),
            (json!(3), json!("client"))
        );
        let (status, again) = server
            .post_as(&clerk(1), &path, &json!({"resolution": "use_server"}))
            .await;
        assert_eq!(status, 409, "{again}");
        let (_, list) = server
            .get_as(&clerk(1), &format!("{API}/sync/conflicts"))
            .await;
        assert_eq!(list["conflicts"], json!([]));
        // The resolution is a change like any other.
        let changes = common::all_changes(&server, &clerk(1), "&tables=t_manual").await;
        assert_eq!(changes[0]["version"], 3);

        // Merged data and use_server.
        let body = stale_update(&server, "t_manual", json!({"id": "a", "body": "late"})).await;
        let id = body["conflicts"][0]["conflict"]["conflict_id"]
            .as_i64()
            .unwrap();
        let path = format!("{API}/sync/conflicts/{id}/resolve");
        let (status, body) = server
            .post_as(&clerk(1), &path, &json!({"resolution": "merged"}))
            .await;
        assert_eq!(status, 422, "merged needs data: {body}");
        let (_, merged) = server
            .post_as(
                &clerk(1),
                &path,
                &json!({"resolution": "merged", "data": {"body": "both"}}),
            )
            .await;
        assert_eq!(merged["row"]["body"], "both", "{merged}");
        let body = stale_update(&server, "t_manual", json!({"id": "a", "body": "later"})).await;
        let id = body["conflicts"][0]["conflict"]["conflict_id"]
            .as_i64()
            .unwrap();
        let (_, kept) = server
            .post_as(
                &admin(),
                &format!("{API}/sync/conflicts/{id}/resolve"),
                &json!({"resolution": "use_server"}),
            )
            .await;
        assert_eq!(kept["row"]["body"], "both", "{kept}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn update_versus_delete_conflicts_on_the_tombstone() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        for table in ["items", "t_client"] {
            seed(
                &server,
                table,
                json!({"id": "a"})
                    .as_object()
                    .map(|_| {
                        if table == "items" {
                            json!({"id": "a", "name": "x"})
                        } else {
                            json!({"id": "a", "body": "x"})
                        }
                    })
                    .unwrap(),
            )
            .await;
            let delete = json!([{"table": table, "action": "delete", "data": {"id": "a"}}]);
            assert_eq!(server.push(&clerk(1), "other", true, delete).await.0, 200);
        }
        // server_wins: the deletion stands and the client learns of it.
        let body = stale_update(
            &server,
            "items",
            json!({"id": "a", "name": "edited offline"}),
        )
        .await;
        let conflict = &body["conflicts"][0];
        assert_eq!(
            (conflict["deleted"].clone(), conflict["version"].clone()),
            (json!(true), json!(2)),
            "{backend:?}: {body}"
        );
        assert!(
            conflict["conflict"]["reason"]
                .as_str()
                .unwrap()
                .contains("deleted")
        );
        // client_wins: the row comes back with a newer version.
        let body = stale_update(
            &server,
            "t_client",
            json!({"id": "a", "body": "edited offline"}),
        )
        .await;
        let applied = &body["applied"][0];
        assert_eq!(
            (applied["deleted"].clone(), applied["version"].clone()),
            (json!(false), json!(3)),
            "{body}"
        );
        // A delete based on an old version conflicts too.
        seed(&server, "items", json!({"id": "b", "name": "x"})).await;
        move_on(&server, "items", json!({"id": "b", "name": "y"})).await;
        let ops =
            json!([{"table": "items", "action": "delete", "data": {"id": "b"}, "base_version": 1}]);
        let (_, body) = server.push(&clerk(1), "device", true, ops).await;
        assert_eq!(body["conflicts"][0]["row"]["name"], "y", "{body}");
        server.stop().await;
    }
}
