//! Findings of an attacker's tour, each kept fixed on SQLite and PostgreSQL: op-id replays
//! across users, undeclared roles, another user's device activity, inputs PostgreSQL cannot
//! store, table lists that multiply a read, and JWT details.

mod common;

use common::*;
use serde_json::{Value, json};

/// A row of `items` in `branch` whose JSON column holds a secret (its name).
fn secret_row(id: &str, branch: i64, name: &str) -> Value {
    json!({"id": id, "branch_id": branch, "name": name, "extra": {"secret": name}})
}

#[tokio::test(flavor = "multi_thread")]
async fn op_ids_are_scoped_to_their_user_and_never_read_across() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let victim = clerk(2);
        let (status, first) = server
            .push(
                &victim,
                "till-2",
                true,
                json!([insert_op("op-1", "items", secret_row("v1", 2, "private"))]),
            )
            .await;
        assert_eq!(status, 200, "{first}");

        // Another branch's clerk sends the victim's device id and op id: not a replay, and
        // nothing of the victim's row comes back.
        let attacker = clerk(1);
        let (status, body) = server
            .push(
                &attacker,
                "till-2",
                true,
                json!([insert_op("op-1", "items", secret_row("a1", 1, "mine"))]),
            )
            .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body["applied"][0]["replayed"], false, "{body}");
        assert!(
            !body.to_string().contains("private"),
            "{backend:?} leaked: {body}"
        );

        // A role without permission on the table cannot read it through a replay either.
        let viewer = token("clerk-2", "VIEWER", Some(json!(2)));
        let (status, body) = server
            .push(&viewer, "till-2", true, json!([{"op_id": "op-1", "table": "t_client", "action": "insert", "data": {"id": "x", "branch_id": 2}}]))
            .await;
        assert_eq!(status, 404, "{backend:?}: {body}");
        assert!(
            !body.to_string().contains("private"),
            "{backend:?} leaked: {body}"
        );

        // Pushing first with the victim's next op id does not swallow the victim's write.
        let (_, _) = server
            .push(
                &attacker,
                "till-2",
                true,
                json!([insert_op("op-2", "items", secret_row("a2", 1, "squat"))]),
            )
            .await;
        let (status, body) = server
            .push(
                &victim,
                "till-2",
                true,
                json!([insert_op("op-2", "items", secret_row("v2", 2, "real"))]),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["applied"][0]["replayed"], false, "{backend:?}: {body}");
        assert_eq!(
            body["applied"][0]["row"]["name"], "real",
            "{backend:?}: {body}"
        );
        let (status, row) = server
            .get_as(&victim, &format!("{API}/tables/items/rows/v2"))
            .await;
        assert_eq!((status, row["name"].clone()), (200, json!("real")));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_op_id_is_refused_not_replayed() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let me = clerk(1);
        // Twice in one batch.
        let (status, body) = server
            .push(
                &me,
                "d",
                true,
                json!([
                    insert_op("op-1", "items", secret_row("a", 1, "a")),
                    insert_op("op-1", "items", secret_row("b", 1, "b"))
                ]),
            )
            .await;
        assert_eq!(status, 422, "{backend:?}: {body}");
        assert_eq!(body["error"]["code"], "op_id_reused", "{body}");
        assert_eq!(body["error"]["details"]["index"], 1, "{body}");
        let (_, changes) = server
            .get_as(&admin(), &format!("{API}/sync/changes"))
            .await;
        assert_eq!(changes["changes"], json!([]), "nothing was written");

        // Again later with another change.
        let (status, _) = server
            .push(
                &me,
                "d",
                true,
                json!([insert_op("op-1", "items", secret_row("a", 1, "a"))]),
            )
            .await;
        assert_eq!(status, 200);
        let (status, body) = server
            .push(
                &me,
                "d",
                false,
                json!([insert_op("op-1", "items", secret_row("b", 1, "b"))]),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["errors"][0]["error"]["code"], "op_id_reused", "{body}");
        // The same change again is a replay.
        let (_, body) = server
            .push(
                &me,
                "d",
                true,
                json!([insert_op("op-1", "items", secret_row("a", 1, "a"))]),
            )
            .await;
        assert_eq!(body["applied"][0]["replayed"], true, "{backend:?}: {body}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_the_schema_does_not_declare_may_do_nothing() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        for role in ["NOBODY", "admin"] {
            let stranger = token("s", role, None);
            let (status, body) = server
                .post_as(
                    &stranger,
                    &format!("{API}/sync/devices"),
                    &json!({"name": "n", "platform": "web", "app_version": "1"}),
                )
                .await;
            assert_eq!(status, 403, "{backend:?} {role}: {body}");
            assert_eq!(body["error"]["code"], "forbidden");
            let (status, _) = server
                .get_as(&stranger, &format!("{API}/sync/devices"))
                .await;
            assert_eq!(status, 403, "{role}");
            let (status, _) = server.push(&stranger, "d", true, json!([])).await;
            assert_eq!(status, 403, "{role}");
            let (status, _) = server
                .get_as(&stranger, &format!("{API}/tables/items/changes"))
                .await;
            assert_eq!(status, 403, "{role}");
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn another_users_requests_do_not_touch_a_devices_activity() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let victim = clerk(2);
        let (status, registered) = server
            .post_as(
                &victim,
                &format!("{API}/sync/devices"),
                &json!({"id": "till-9", "name": "Till", "platform": "web", "app_version": "1"}),
            )
            .await;
        assert_eq!(status, 201, "{registered}");
        server.push(&victim, "till-9", true, json!([])).await;
        let (_, before) = server
            .get_as(&victim, &format!("{API}/sync/devices/till-9"))
            .await;
        assert!(before["last_seen"].is_string(), "{before}");

        let attacker = clerk(1);
        server.push(&attacker, "till-9", true, json!([])).await;
        let (status, _) = server
            .post_as(
                &attacker,
                &format!("{API}/sync/ack"),
                &json!({"device_id": "till-9", "cursor": "0"}),
            )
            .await;
        assert_eq!(status, 404);
        let (_, after) = server
            .get_as(&victim, &format!("{API}/sync/devices/till-9"))
            .await;
        assert_eq!(
            after["last_seen"], before["last_seen"],
            "{backend:?}: {after}"
        );
        assert_ne!(after["sync_status"], "offline", "{backend:?}: {after}");

        // A device id no database column could hold is refused before anything is kept.
        let (status, body) = server
            .push(&attacker, &"x".repeat(1_000_000), true, json!([]))
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["details"]["field"], "device_id");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn inputs_postgresql_cannot_store_are_refused_alike_on_both_backends() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let me = admin();
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"id": "a", "branch_id": 1, "name": "nul\u{0}"}),
                "name",
            ),
            (json!({"id": "a\u{0}", "branch_id": 1, "name": "n"}), "id"),
            (
                json!({"id": "a", "branch_id": 1, "name": "n", "extra": {"k": "v\u{0}"}}),
                "extra",
            ),
            (
                json!({"id": "a", "branch_id": 1, "name": "n", "extra": {"k\u{0}": 1}}),
                "extra",
            ),
            (
                json!({"id": "a", "branch_id": 1, "name": "n", "day": "0000-01-01"}),
                "day",
            ),
            (
                json!({"id": "a", "branch_id": 1, "name": "n", "day": "+10000-01-01"}),
                "day",
            ),
            (
                json!({"id": "a", "branch_id": 1, "name": "n", "updated_at": "0000-01-01T00:00:00Z"}),
                "updated_at",
            ),
        ];
        for (data, field) in cases {
            let (status, body) = server
                .push(
                    &me,
                    "d",
                    true,
                    json!([{"table": "items", "action": "insert", "data": data}]),
                )
                .await;
            assert_eq!(status, 422, "{backend:?} {data}: {body}");
            assert_eq!(
                body["error"]["details"]["field"], field,
                "{backend:?}: {body}"
            );
        }
        for device in ["nul\u{0}", &"d".repeat(1_000_000)] {
            let (status, body) = server.push(&me, device, true, json!([])).await;
            assert_eq!(status, 422, "{backend:?}: {body}");
            assert_eq!(body["error"]["details"]["field"], "device_id");
        }
        let long_op = "o".repeat(1_000_000);
        let (status, body) = server
            .push(&me, "d", true, json!([{"op_id": long_op, "table": "items", "action": "insert", "data": {"id": "a", "branch_id": 1, "name": "n"}}]))
            .await;
        assert_eq!(status, 422, "{backend:?}");
        assert_eq!(body["error"]["details"]["field"], "op_id");
        let (status, body) = server
            .post_as(
                &me,
                &format!("{API}/sync/devices"),
                &json!({"name": "n\u{0}", "platform": "web", "app_version": "1"}),
            )
            .await;
        assert_eq!(status, 422, "{backend:?}: {body}");
        assert_eq!(body["error"]["details"]["field"], "name");
        for path in [
            &format!("{API}/sync/devices/a%00b"),
            &format!("{API}/sync/upload/a%00b"),
            &format!("{API}/sync/download/a%00b"),
        ] {
            let (status, body) = server.get_as(&me, path).await;
            assert_eq!(status, 422, "{backend:?} {path}: {body}");
            assert_eq!(body["error"]["details"]["field"], "id", "{path}");
        }
        let (status, body) = server
            .get_as(&me, &format!("{API}/tables/items/rows/a%00b"))
            .await;
        assert!(
            status == 400 || status == 422,
            "{backend:?}: {status} {body}"
        );
        let (_, changes) = server.get_as(&me, &format!("{API}/sync/changes")).await;
        assert_eq!(
            changes["changes"],
            json!([]),
            "{backend:?}: nothing was written"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_named_many_times_is_read_once() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let me = admin();
        server
            .push(
                &me,
                "d",
                true,
                json!([
                    insert_op("1", "items", secret_row("a", 1, "a")),
                    insert_op("2", "items", secret_row("b", 1, "b"))
                ]),
            )
            .await;
        let tables = vec!["items"; 50_000];
        let started = std::time::Instant::now();
        let (status, body) = server
            .post_as(&me, &format!("{API}/sync/pull"), &json!({"tables": tables}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["data"]["items"].as_array().unwrap().len(),
            2,
            "{backend:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        let (_, page) = server
            .get_as(&me, &format!("{API}/sync/changes?tables=items,items"))
            .await;
        assert_eq!(
            page["changes"].as_array().unwrap().len(),
            2,
            "{backend:?}: {page}"
        );
        server.stop().await;
    }
}

fn raw_token(header: Value, claims: Value) -> String {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let mut head = Header::new(jsonwebtoken::Algorithm::HS256);
    if let Some(crit) = header.get("crit") {
        head.crit = serde_json::from_value(crit.clone()).unwrap();
    }
    encode(
        &head,
        &claims,
        &EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_details_are_checked_alike_everywhere() {
    let (_sandbox, server) = sync_server(Backend::Sqlite).await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": "u", "role": "ADMIN", "exp": now + 3600});
    let mut early = claims.clone();
    early["nbf"] = json!(now + 3600);
    for (name, token) in [
        ("nbf in the future", raw_token(json!({}), early)),
        (
            "a crit header",
            raw_token(json!({"crit": ["exp"]}), claims.clone()),
        ),
    ] {
        for path in [
            &format!("{API}/sync/changes"),
            &format!("{API}/tables/items/changes"),
        ] {
            let (status, body) = server.get_as(&token, path).await;
            assert_eq!(status, 401, "{name} {path}: {body}");
        }
    }
    let good = raw_token(json!({}), claims);
    for path in [
        &format!("{API}/sync/changes"),
        &format!("{API}/tables/items/changes"),
    ] {
        let response = server
            .client
            .get(server.url(path))
            .header("Authorization", format!("BEARER {good}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    server.stop().await;
}
