//! `[[server.aliases]]`: old paths served by the gateway's endpoints, documented as deprecated,
//! refused at start when they collide with an endpoint or lead nowhere.

mod common;

use common::{API, Backend, SYNC_SCHEMA, Sandbox, TestServer, admin, backends, insert};
use serde_json::{Value, json};
use syncgate::config::AliasConfig;

fn alias(path: &str, to: &str, methods: &[&str]) -> AliasConfig {
    AliasConfig {
        path: path.into(),
        to: to.into(),
        methods: methods.iter().map(|m| m.to_string()).collect(),
    }
}

async fn start(
    backend: Backend,
    aliases: Vec<AliasConfig>,
) -> (Sandbox, Result<TestServer, String>) {
    let sandbox = Sandbox::new(backend).await;
    sandbox.write_schema("sync.toml", SYNC_SCHEMA);
    let mut config = sandbox.config();
    config.server.aliases = aliases;
    let server = TestServer::try_start(config)
        .await
        .map_err(|e| e.to_string());
    (sandbox, server)
}

#[tokio::test(flavor = "multi_thread")]
async fn old_paths_reach_the_endpoints_they_alias() {
    for backend in backends() {
        let (_sandbox, server) = start(
            backend,
            vec![
                alias("/sync", &format!("{API}/sync/push"), &["POST"]),
                alias("/sync/report", &format!("{API}/sync/push"), &[]),
                alias("/api/sync/*", &format!("{API}/sync/*"), &[]),
            ],
        )
        .await;
        let server = server.unwrap();
        let token = admin();
        let body = |id: &str| {
            let item = insert("items", json!({"id": id, "name": id, "branch_id": 1}));
            json!({"device_id": "d1", "operations": [item]})
        };
        let (status, pushed) = server.post_as(&token, "/sync", &body("a")).await;
        assert_eq!(status, 200, "{backend:?}: {pushed}");
        assert_eq!(pushed["applied"][0]["version"], 1, "{pushed}");
        let (status, _) = server.post_as(&token, "/sync/report", &body("b")).await;
        assert_eq!(status, 200);
        // A prefix alias keeps the rest of the path and the query.
        let (status, page) = server.get_as(&token, "/api/sync/changes?limit=1").await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["changes"].as_array().unwrap().len(), 1, "{page}");
        assert_eq!(page["has_more"], true, "{page}");
        let (status, row) = server.get_as(&token, "/api/sync/devices/nothing").await;
        assert_eq!(
            (status, &row["error"]["code"]),
            (404, &json!("row_not_found")),
            "{row}"
        );
        // Only the aliased methods: GET /sync is no endpoint.
        let (status, _) = server.get_as(&token, "/sync").await;
        assert_eq!(status, 404);
        // An alias needs the same token as its endpoint.
        let anonymous = server
            .client
            .post(server.url("/sync"))
            .json(&body("c"))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401);

        let document: Value = server.get("/openapi.json").await.json().await.unwrap();
        let old = &document["paths"]["/sync"]["post"];
        assert_eq!(old["deprecated"], true, "{old}");
        assert_eq!(old["operationId"], "push_via_sync", "{old}");
        assert!(
            old["summary"].as_str().unwrap().contains("/sync/push"),
            "{old}"
        );
        assert!(document["paths"]["/sync"].get("get").is_none());
        let aliased = &document["paths"]["/api/sync/devices/{id}"]["put"];
        assert_eq!(aliased["deprecated"], true, "{aliased}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_that_collide_or_lead_nowhere_stop_the_start() {
    let (_sandbox, started) = start(
        Backend::Sqlite,
        vec![
            alias(&format!("{API}/sync/status"), "/health", &[]),
            alias("/old", &format!("{API}/sync/pushh"), &[]),
        ],
    )
    .await;
    let error = match started {
        Ok(server) => {
            server.stop().await;
            panic!("the server started with colliding aliases");
        }
        Err(error) => error,
    };
    assert!(error.contains("server.aliases"), "{error}");
    assert!(
        error.contains("is an endpoint of this gateway already"),
        "{error}"
    );
    assert!(error.contains("`/old`"), "{error}");
    assert!(error.contains("pushh"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_that_would_leave_an_alias_without_its_endpoint_is_refused() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_schema("sync.toml", SYNC_SCHEMA);
    sandbox.write_schema(
        "extra.toml",
        "[tables.extra]\npermissions = { ADMIN = \"crud\" }\n[tables.extra.columns]\nid = { type = \"text\" }\n",
    );
    let mut config = sandbox.config();
    config.server.aliases = vec![alias(
        "/old/extra",
        &format!("{API}/tables/extra/push"),
        &[],
    )];
    let server = TestServer::start(config).await;
    sandbox.remove_schema("extra.toml");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let error = loop {
        let (_, health) = server.get_as(&admin(), "/health").await;
        if let Some(error) = health["schema"]["last_failed_reload"]["error"].as_str() {
            break error.to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no reload: {health}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        error.contains("server.aliases") && error.contains("/old/extra"),
        "{error}"
    );
    let push = json!({"device_id": "d", "operations": [{"action": "insert", "data": {"id": "e"}}]});
    let (status, body) = server.post_as(&admin(), "/old/extra", &push).await;
    assert_eq!(status, 200, "the previous schema still serves: {body}");
    server.stop().await;
}
