//! Devices (seeds 003 and 004): registration, device tokens (hashed, regenerated, revoked by
//! deletion), scoping, acknowledgements, per-device status and the overall status with its
//! recommendations — on every backend.

mod common;

use common::{API, Sandbox, TestServer, admin, backends, clerk, token};
use serde_json::{Value, json};

async fn server_with(
    backend: common::Backend,
    tweak: impl FnOnce(&mut syncgate::config::Config),
) -> (Sandbox, TestServer) {
    let sandbox = Sandbox::new(backend).await;
    sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
    let mut config = sandbox.config();
    config.devices.activity_flush = std::time::Duration::from_millis(100);
    tweak(&mut config);
    let server = TestServer::start(config).await;
    (sandbox, server)
}

async fn register(server: &TestServer, token: &str, id: &str, platform: &str) -> (String, Value) {
    let body = json!({"id": id, "name": format!("{id} device"), "platform": platform, "app_version": "1.2.3"});
    let (status, answer) = server
        .post_as(token, &format!("{API}/sync/devices"), &body)
        .await;
    assert_eq!(status, 201, "{answer}");
    (
        answer["token"].as_str().unwrap().to_string(),
        answer["device"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn devices_are_registered_scoped_and_revoked() {
    for backend in backends() {
        let (sandbox, server) = server_with(backend, |_| {}).await;
        let ana = clerk(1);
        let bob = token("bob", "CLERK", Some(json!(1)));
        let (ana_token, device) = register(&server, &ana, "ana-phone", "android").await;
        assert!(ana_token.starts_with("sgd_"));
        assert_eq!(device["device_id"], "ana-phone");
        assert_eq!(device["sync_status"], "offline", "never seen yet");
        register(&server, &bob, "bob-laptop", "windows_app").await;

        // The token is stored hashed.
        let db = sandbox.connect().await;
        use sea_orm::ConnectionTrait;
        let stored = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT token_hash FROM syncgate_devices WHERE id = 'ana-phone'",
            ))
            .await
            .unwrap()
            .unwrap();
        let hash: String = stored.try_get("", "token_hash").unwrap();
        assert_ne!(hash, ana_token);
        assert_eq!(hash.len(), 64);

        // The device token acts as its user.
        let (status, body) = server
            .push(
                &ana_token,
                "ana-phone",
                true,
                json!([{"table": "items", "action": "insert", "data": {"id": "d1", "name": "x"}}]),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["applied"][0]["row"]["branch_id"], 1,
            "with its user's branch"
        );
        let (status, _) = server.push(&ana_token, "bob-laptop", true, json!([])).await;
        assert_eq!(status, 403, "a device token pushes as its own device only");

        // Listing and reading are scoped; another user's device does not exist.
        let (_, mine) = server.get_as(&ana, &format!("{API}/sync/devices")).await;
        let ids: Vec<&str> = mine["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["device_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["ana-phone"], "{backend:?}");
        let (_, all) = server
            .get_as(&admin(), &format!("{API}/sync/devices"))
            .await;
        assert_eq!(all["devices"].as_array().unwrap().len(), 2);
        for (method, path) in [
            ("GET", &format!("{API}/sync/devices/bob-laptop")),
            ("PUT", &format!("{API}/sync/devices/bob-laptop")),
            ("DELETE", &format!("{API}/sync/devices/bob-laptop")),
            ("POST", &format!("{API}/sync/devices/bob-laptop/token")),
        ] {
            let response = server
                .client
                .request(method.parse().unwrap(), server.url(path))
                .bearer_auth(&ana)
                .json(&json!({"name": "mine now"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 404, "{method} {path}");
        }
        let (status, _) = server
            .get_as(&admin(), &format!("{API}/sync/devices/bob-laptop"))
            .await;
        assert_eq!(status, 200, "an admin reaches every device");

        // Update.
        let (_, updated) = server
            .put_as(
                &ana,
                &format!("{API}/sync/devices/ana-phone"),
                &json!({"app_version": "1.3.0"}),
            )
            .await;
        assert_eq!(
            (updated["version"].clone(), updated["name"].clone()),
            (json!("1.3.0"), json!("ana-phone device"))
        );

        // Regenerating the token stops the old one at once.
        let (status, fresh) = server
            .post_as(
                &ana,
                &format!("{API}/sync/devices/ana-phone/token"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{fresh}");
        let new_token = fresh["token"].as_str().unwrap().to_string();
        let (status, body) = server
            .get_as(&ana_token, &format!("{API}/sync/changes"))
            .await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(
            server
                .get_as(&new_token, &format!("{API}/sync/changes"))
                .await
                .0,
            200
        );

        // Deleting the device refuses its token.
        let (status, _) = server
            .delete_as(&ana, &format!("{API}/sync/devices/ana-phone"))
            .await;
        assert_eq!(status, 204);
        assert_eq!(
            server
                .get_as(&new_token, &format!("{API}/sync/changes"))
                .await
                .0,
            401
        );
        assert_eq!(
            server
                .get_as(&ana, &format!("{API}/sync/devices/ana-phone"))
                .await
                .0,
            404
        );

        // Registration checks its input.
        let (status, body) = server
            .post_as(
                &ana,
                &format!("{API}/sync/devices"),
                &json!({"id": "bob-laptop", "name": "x", "platform": "p", "app_version": "1"}),
            )
            .await;
        assert_eq!(status, 409, "{body}");
        let (status, body) = server
            .post_as(
                &ana,
                &format!("{API}/sync/devices"),
                &json!({"name": "", "platform": "p", "app_version": "1"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["details"]["field"].clone()),
            (422, json!("name"))
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn acks_and_device_status() {
    for backend in backends() {
        let (_sandbox, server) = server_with(backend, |config| {
            config.devices.stale_after = std::time::Duration::from_secs(1);
        })
        .await;
        let ana = clerk(1);
        let (phone, _) = register(&server, &ana, "phone", "android").await;
        let (_tablet, _) = register(&server, &ana, "tablet", "ios").await;
        register(&server, &ana, "old-pc", "windows_app").await;

        // Two changes in branch 1, one in branch 2 (not visible to ana's devices).
        server.push(&ana, "phone", true, json!([{"table": "items", "action": "insert", "data": {"id": "a", "name": "a"}}, {"table": "items", "action": "insert", "data": {"id": "b", "name": "b"}}])).await;
        server
            .push(
                &clerk(2),
                "elsewhere",
                true,
                json!([{"table": "items", "action": "insert", "data": {"id": "z", "name": "z"}}]),
            )
            .await;

        // The phone reads the feed and acknowledges it; the tablet is seen but does not ack.
        let (_, page) = server.get_as(&phone, &format!("{API}/sync/changes")).await;
        let cursor = page["cursor"].as_str().unwrap().to_string();
        let (status, acked) = server
            .post_as(
                &ana,
                &format!("{API}/sync/ack"),
                &json!({"device_id": "phone", "cursor": cursor}),
            )
            .await;
        assert_eq!(status, 200, "{acked}");
        assert_eq!(
            (acked["sync_status"].clone(), acked["pending"].clone()),
            (json!("up_to_date"), json!(0)),
            "{backend:?}: {acked}"
        );
        let (status, body) = server
            .post_as(
                &ana,
                &format!("{API}/sync/ack"),
                &json!({"device_id": "phone", "cursor": "999999"}),
            )
            .await;
        assert_eq!(status, 422, "a cursor beyond the head: {body}");
        server.push(&ana, "tablet", true, json!([])).await;

        let (status, report) = server.get_as(&ana, &format!("{API}/sync/status")).await;
        assert_eq!(status, 200, "{report}");
        let device = |id: &str| {
            report["devices"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["device_id"] == id)
                .unwrap()
                .clone()
        };
        assert_eq!(
            device("phone")["sync_status"],
            "up_to_date",
            "{backend:?}: {report}"
        );
        assert_eq!(device("tablet")["sync_status"], "pending");
        assert_eq!(
            device("tablet")["pending"],
            2,
            "only changes it may see count"
        );
        assert_eq!(device("old-pc")["sync_status"], "offline");
        assert_eq!(report["sync_status"], "delayed");
        assert_eq!(
            (
                report["total_devices"].clone(),
                report["active_devices"].clone()
            ),
            (json!(3), json!(2))
        );
        assert_eq!(report["pending_syncs"], 4, "tablet 2 + old-pc 2");
        assert_eq!(report["data_summary"]["tables"]["items"]["rows"], 2);
        assert!(report["data_summary"]["tables"]["items"]["last_change"].is_string());
        assert_eq!(report["user"]["sub"], "clerk-1");
        assert!(report["server_time"].is_string());
        let advice = report["recommendations"].as_array().unwrap();
        assert!(
            advice.contains(&json!(
                "Device `tablet` has 2 unacknowledged changes — sync recommended"
            )),
            "{advice:?}"
        );
        assert!(
            advice.iter().any(|a| a
                .as_str()
                .unwrap()
                .starts_with("Device `old-pc` has never synced")),
            "{advice:?}"
        );

        // Behind for longer than stale_after: stale.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        server.push(&ana, "tablet", true, json!([])).await;
        let (_, report) = server
            .get_as(&ana, &format!("{API}/sync/status?include_devices=false"))
            .await;
        assert!(report.get("devices").is_none(), "{report}");
        let (_, tablet) = server
            .get_as(&ana, &format!("{API}/sync/devices/tablet"))
            .await;
        assert_eq!(tablet["sync_status"], "stale", "{tablet}");
        assert!(tablet["lag_seconds"].as_i64().unwrap() >= 2);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_overall_status_reports_conflicts_and_offline() {
    for backend in backends() {
        let (_sandbox, server) = server_with(backend, |_| {}).await;
        let ana = clerk(1);
        let (_, body) = server.get_as(&ana, &format!("{API}/sync/status")).await;
        assert_eq!(body["sync_status"], "offline", "no devices: {body}");
        assert_eq!(
            body["recommendations"][0],
            "No devices are registered — register one with POST /sync/devices"
        );

        let (phone, _) = register(&server, &ana, "phone", "android").await;
        let (_, page) = server.get_as(&phone, &format!("{API}/sync/changes")).await;
        server
            .post_as(
                &phone,
                &format!("{API}/sync/ack"),
                &json!({"device_id": "phone", "cursor": page["cursor"]}),
            )
            .await;
        let (_, body) = server.get_as(&ana, &format!("{API}/sync/status")).await;
        assert_eq!(body["sync_status"], "healthy", "{backend:?}: {body}");
        assert_eq!(
            body["recommendations"],
            json!(["All devices are up to date"])
        );

        // A queued conflict.
        server
            .push(
                &ana,
                "phone",
                true,
                json!([{"table": "t_manual", "action": "insert", "data": {"id": "m"}}]),
            )
            .await;
        server.push(&ana, "phone", true, json!([{"table": "t_manual", "action": "update", "data": {"id": "m", "body": "x"}}])).await;
        server.push(&ana, "phone", true, json!([{"table": "t_manual", "action": "update", "data": {"id": "m", "body": "y"}, "base_version": 1}])).await;
        let (_, body) = server
            .get_as(&ana, &format!("{API}/sync/status?check_conflicts=true"))
            .await;
        assert_eq!(body["sync_status"], "conflicts", "{body}");
        assert_eq!(body["conflicts"].as_array().unwrap().len(), 1);
        assert_eq!(body["data_summary"]["open_conflicts"], 1);
        assert!(
            body["recommendations"][0]
                .as_str()
                .unwrap()
                .starts_with("1 conflict waits for a decision")
        );
        // Another branch sees neither the conflict nor ana's devices.
        let (_, other) = server
            .get_as(
                &clerk(2),
                &format!("{API}/sync/status?check_conflicts=true"),
            )
            .await;
        assert_eq!(
            (other["total_devices"].clone(), other["conflicts"].clone()),
            (json!(0), json!([]))
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn devices_report_their_unsent_writes_and_status_shows_both_directions() {
    for backend in backends() {
        let (_sandbox, server) = server_with(backend, |config| {
            config.devices.stale_after = std::time::Duration::from_secs(2);
        })
        .await;
        let ana = clerk(1);
        let (phone, _) = register(&server, &ana, "phone", "android").await;
        let (_, page) = server.get_as(&phone, &format!("{API}/sync/changes")).await;
        let cursor = page["cursor"].as_str().unwrap().to_string();
        let ack = |pending: Value| {
            let mut body = json!({"device_id": "phone", "cursor": cursor});
            if !pending.is_null() {
                body["pending_upload"] = pending;
            }
            body
        };

        // Up to date both ways: nothing to read, and no report of writes yet.
        let (status, view) = server
            .post_as(&ana, &format!("{API}/sync/ack"), &ack(Value::Null))
            .await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["sync_status"], "up_to_date", "{backend:?}: {view}");
        assert_eq!(view.get("pending_upload"), None, "{view}");

        // The device holds three writes it could not push yet (offline a moment ago).
        let (status, view) = server
            .post_as(&ana, &format!("{API}/sync/ack"), &ack(json!(3)))
            .await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(
            (
                view["sync_status"].clone(),
                view["pending_upload"].clone(),
                view["pending_download"].clone()
            ),
            (json!("pending"), json!(3), json!(0)),
            "{backend:?}: {view}"
        );
        assert!(view["pending_upload_at"].is_string(), "{view}");
        let (_, report) = server.get_as(&ana, &format!("{API}/sync/status")).await;
        assert_eq!(
            (
                report["sync_status"].clone(),
                report["pending_upload"].clone(),
                report["pending_download"].clone()
            ),
            (json!("delayed"), json!(3), json!(0)),
            "{backend:?}: {report}"
        );
        assert!(
            report["recommendations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "Device `phone` has 3 writes not uploaded yet — sync recommended"),
            "{report}"
        );

        // Held longer than stale_after (2 s, counted in whole seconds): stale, in the upload
        // direction alone.
        tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
        let (_, report) = server.get_as(&ana, &format!("{API}/sync/status")).await;
        assert_eq!(report["devices"][0]["sync_status"], "stale", "{report}");

        // A later ack without the field keeps the count; with 0 the device is up to date.
        let (_, view) = server
            .post_as(&ana, &format!("{API}/sync/ack"), &ack(Value::Null))
            .await;
        assert_eq!(view["pending_upload"], 3, "{view}");
        let (_, view) = server
            .post_as(&ana, &format!("{API}/sync/ack"), &ack(json!(0)))
            .await;
        assert_eq!(view["sync_status"], "up_to_date", "{backend:?}: {view}");
        let (_, report) = server.get_as(&ana, &format!("{API}/sync/status")).await;
        assert_eq!(report["sync_status"], "healthy", "{report}");

        // Another user's ack of this device id is "not found" and changes nothing.
        let (status, body) = server
            .post_as(&clerk(2), &format!("{API}/sync/ack"), &ack(json!(99)))
            .await;
        assert_eq!(status, 404, "{body}");
        let (status, body) = server
            .post_as(
                &token("ana-2", "CLERK", Some(json!(1))),
                &format!("{API}/sync/ack"),
                &ack(json!(99)),
            )
            .await;
        assert_eq!(status, 404, "another user of the same branch: {body}");

        // A negative count is refused, naming the field, and changes nothing.
        let (status, body) = server
            .post_as(&ana, &format!("{API}/sync/ack"), &ack(json!(-1)))
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(
            body["error"]["details"]["field"], "pending_upload",
            "{body}"
        );
        let (_, report) = server.get_as(&ana, &format!("{API}/sync/status")).await;
        assert_eq!(report["pending_upload"], 0, "{report}");
    }
}
