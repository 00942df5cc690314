//! Bearer tokens: what is refused with 401, what is forbidden with 403, which endpoints are open,
//! RS256/ES256 public keys, and `syncgate token`.

mod common;

use common::{API, Backend, admin, backends, binary, sync_server, token, token_with};
use serde_json::{Value, json};
use std::process::Command;

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | *b as u32) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tokens_get_401_with_the_error_body() {
    let (_sandbox, server) = sync_server(Backend::Sqlite).await;
    let exp = chrono::Utc::now().timestamp() + 3600;
    let claims = base64url(
        json!({"sub": "x", "role": "ADMIN", "exp": exp})
            .to_string()
            .as_bytes(),
    );
    let alg_none = format!("{}.{claims}.", base64url(br#"{"alg":"none","typ":"JWT"}"#));
    let other_key = syncgate::config::AuthConfig {
        jwt_secret: Some(syncgate::config::Secret::new(
            "another-secret-another-secret-xx",
        )),
        ..Default::default()
    };
    let wrong_key = syncgate::auth::Authenticator::from_config(&other_key)
        .unwrap()
        .mint(&syncgate::auth::Claims {
            sub: "x".into(),
            role: "ADMIN".into(),
            branch: None,
            exp,
            other: Default::default(),
        })
        .unwrap();
    let expired = token_with("x", "ADMIN", None, Default::default(), -3600);
    let cases = [
        ("no token", None, "missing bearer token"),
        (
            "malformed",
            Some("not-a-jwt".to_string()),
            "malformed token",
        ),
        ("alg none", Some(alg_none), "invalid token"),
        ("wrong key", Some(wrong_key), "signature does not match"),
        ("expired", Some(expired), "expired"),
    ];
    for (what, bearer, expected) in cases {
        let mut request = server
            .client
            .get(server.url(&format!("{API}/sync/changes")));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{what}");
        assert!(
            response.headers().contains_key("www-authenticate"),
            "{what}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{what}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{what}: {body}"
        );
    }
    // The per-table endpoints check the same way.
    let response = server.get(&format!("{API}/tables/items/changes")).await;
    assert_eq!(response.status(), 401);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_health_ready_and_the_docs_are_open() {
    let (_sandbox, server) = sync_server(Backend::Sqlite).await;
    for open in ["/health", "/ready", "/openapi.json", "/docs"] {
        assert_eq!(server.get(open).await.status(), 200, "{open}");
    }
    for closed in [
        &format!("{API}/sync/changes"),
        &format!("{API}/sync/conflicts"),
        &format!("{API}/tables/items/changes"),
        &format!("{API}/tables/items/rows/x"),
    ] {
        assert_eq!(server.get(closed).await.status(), 401, "{closed}");
    }
    for closed in [
        &format!("{API}/sync/push"),
        &format!("{API}/sync/pull"),
        &format!("{API}/tables/items/push"),
    ] {
        let response = server
            .client
            .post(server.url(closed))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{closed}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_and_tables_outside_the_schema_are_refused() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let stranger = token("x", "JANITOR", None);
        let (status, body) = server
            .get_as(&stranger, &format!("{API}/sync/changes"))
            .await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("`JANITOR`")
        );

        // A table the role has no permission on does not exist for it.
        let viewer = token("v", "VIEWER", Some(json!(1)));
        let (status, body) = server
            .get_as(&viewer, &format!("{API}/sync/changes?tables=t_client"))
            .await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["code"], "unknown_table");
        assert_eq!(
            body["error"]["details"]["available_tables"],
            json!(["items", "catalog"])
        );
        let (status, body) = server
            .get_as(&viewer, &format!("{API}/sync/changes?tables=nope"))
            .await;
        assert_eq!(status, 404, "{body}");

        // Read-only: pushing is forbidden.
        let (status, body) = server
            .push(
                &viewer,
                "d",
                true,
                json!([{"table": "items", "action": "insert", "data": {"id": "a", "name": "x"}}]),
            )
            .await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("may not create"),
            "{body}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn public_key_tokens_are_verified_with_the_configured_key() {
    let sandbox = common::Sandbox::new(Backend::Sqlite).await;
    sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
    let mut config = sandbox.config();
    config.auth.jwt_public_key = Some(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/es256-public.pem"
        )
        .into(),
    );
    config.auth.jwt_public_key_algorithm = syncgate::config::KeyAlgorithm::Es256;
    let server = common::TestServer::start(config).await;
    let private = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/es256-private.pem"
    ))
    .unwrap();
    let claims =
        json!({"sub": "idp-user", "role": "ADMIN", "exp": chrono::Utc::now().timestamp() + 600});
    let signed = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(&private).unwrap(),
    )
    .unwrap();
    let (status, body) = server.get_as(&signed, &format!("{API}/sync/changes")).await;
    assert_eq!(status, 200, "{body}");
    // HS256 tokens still work with the secret beside it.
    let (status, _) = server
        .get_as(&admin(), &format!("{API}/sync/changes"))
        .await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_command_prints_a_token_the_server_accepts() {
    let (sandbox, server) = sync_server(Backend::Sqlite).await;
    let config = sandbox.write_config("");
    let output = Command::new(binary())
        .args([
            "token", "--sub", "ana", "--role", "CLERK", "--branch", "7", "--ttl", "10m", "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let minted = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let (status, body) = server
        .push(
            &minted,
            "d1",
            true,
            json!([{"table": "items", "action": "insert", "data": {"id": "t1", "name": "tea"}}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["applied"][0]["row"]["branch_id"], 7,
        "the branch claim scopes the row"
    );
    server.stop().await;
}
