//! The OpenAPI document: committed for the shipped schema and checked for drift, served at
//! `/openapi.json` with a docs page, and typed per table. `scripts/test` also validates the
//! committed file with openapi-spec-validator.

mod common;

use common::{API, Backend, Sandbox, TestServer};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

fn shipped_document() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema = syncgate::schema::load_dir(&root.join("schemas"), &root.join("plugins"))
        .expect("the shipped schema loads");
    let mut config = syncgate::config::Config::default();
    config.server.api_prefix = API.to_string();
    syncgate::api::build(Arc::new(schema), &config)
        .expect("no aliases to refuse")
        .spec
}

#[test]
fn the_committed_document_matches_the_shipped_schema() {
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json"))
            .unwrap_or_default();
    assert!(
        committed == shipped_document(),
        "openapi/openapi.json is out of date; regenerate it with `cargo run -- openapi` and commit it"
    );
}

#[test]
fn each_table_has_typed_endpoints_with_its_own_columns() {
    let document: Value = serde_json::from_str(&shipped_document()).unwrap();
    let paths = document["paths"].as_object().unwrap();
    for path in [
        &format!("{API}/tables/products/push"),
        &format!("{API}/tables/products/changes"),
        &format!("{API}/tables/products/rows/{{pk}}"),
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    let schemas = &document["components"]["schemas"];
    let row = &schemas["products_Row"];
    assert_eq!(row["properties"]["stock"]["type"], "integer");
    assert_eq!(row["properties"]["stock"]["minimum"], 0.0);
    assert_eq!(row["properties"]["name"]["maxLength"], 200);
    assert_eq!(row["properties"]["id"]["format"], "uuid");
    assert_eq!(row["properties"]["updated_at"]["format"], "date-time");
    assert_eq!(
        row["properties"]["category"]["enum"],
        serde_json::json!(["food", "drink", "household", "other"])
    );
    assert!(
        row["required"]
            .as_array()
            .unwrap()
            .contains(&"price".into())
    );
    assert_eq!(schemas["sales_Row"]["properties"]["note"]["nullable"], true);
    let push = &paths[&format!("{API}/tables/sales/push")]["post"];
    assert_eq!(
        push["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/sales_PushRequest"
    );
    assert_eq!(
        push["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/sales_PushOutcome"
    );
    assert_eq!(
        schemas["sales_OpResult"]["properties"]["row"]["$ref"],
        "#/components/schemas/sales_Row"
    );
    assert_eq!(
        schemas["sales_Operation"]["properties"]["data"]["$ref"],
        "#/components/schemas/sales_Patch"
    );
    assert_eq!(push["security"][0]["BearerAuth"], serde_json::json!([]));
    // The generic endpoints refer to the same row schemas.
    let any: Vec<&str> = schemas["AnyRow"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["$ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        any,
        [
            "#/components/schemas/products_Row",
            "#/components/schemas/sales_Row"
        ]
    );
    assert_eq!(
        schemas["Change"]["properties"]["row"]["$ref"],
        "#/components/schemas/AnyRow"
    );
    for status in ["401", "403", "404", "422"] {
        assert!(
            paths[&format!("{API}/sync/push")]["post"]["responses"][status].is_object(),
            "{status} undocumented"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_serves_its_document_and_a_docs_page() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_shop();
    let mut config = sandbox.config();
    config.server.api_prefix = "/sync-api".into();
    let server = TestServer::start(config).await;
    let response = server.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let document: Value = response.json().await.unwrap();
    assert!(
        document["paths"]["/sync-api/sync/push"].is_object(),
        "the prefix is in the paths"
    );
    assert!(
        document["paths"]["/health"].is_object(),
        "health stays at the root"
    );
    let docs = server.get("/docs").await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("<html"));
    server.stop().await;
}

/// What client generators need: a patch declares no defaults (a generated client would send
/// them and reset columns), every component title is its own, and no `allOf` merely attaches a
/// description to a `$ref`.
#[test]
fn generated_clients_can_use_the_document() {
    let document: Value = serde_json::from_str(&shipped_document()).unwrap();
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let mut titles = std::collections::HashMap::new();
    for (name, schema) in schemas {
        if let Some(title) = schema["title"].as_str()
            && let Some(other) = titles.insert(title.to_string(), name.clone())
        {
            panic!("`{name}` and `{other}` share the title `{title}`");
        }
        for (property, definition) in schema["properties"].as_object().into_iter().flatten() {
            assert!(
                definition.get("allOf").is_none(),
                "{name}.{property} wraps a reference in allOf"
            );
            if name.ends_with("_Patch") {
                assert!(
                    definition.get("default").is_none(),
                    "{name}.{property} declares a default a patch would send"
                );
            }
        }
    }
    // Rows keep their defaults: they describe what the server stores.
    assert!(schemas["products_Row"].to_string().contains("\"default\""));

    // Auth is required unless an operation says otherwise; every operation has an id and
    // every answer a description; one JSON media type; the error codes are an enum.
    assert_eq!(
        document["security"],
        serde_json::json!([{"BearerAuth": []}])
    );
    assert!(document["servers"][0]["url"].is_string());
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            assert!(
                operation["operationId"].is_string(),
                "{method} {path}: no operationId"
            );
            let open = operation["security"] == serde_json::json!([]);
            assert_eq!(
                open,
                path == "/health" || path == "/ready",
                "{method} {path}: security"
            );
            for (status, answer) in operation["responses"].as_object().unwrap() {
                assert!(
                    answer["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status}: no description"
                );
            }
        }
    }
    assert!(!document.to_string().contains("charset=utf-8"));
    // Error statuses an operation cannot answer are not listed (schemathesis checks the rest).
    let list_devices = &document["paths"][&format!("{API}/sync/devices")]["get"]["responses"];
    for status in ["404", "409", "413", "415", "422"] {
        assert!(
            list_devices.get(status).is_none(),
            "GET /sync/devices lists {status}"
        );
    }
    let push = &document["paths"][&format!("{API}/sync/push")]["post"]["responses"];
    for status in [
        "400", "401", "403", "404", "409", "413", "415", "422", "500", "503",
    ] {
        assert!(push.get(status).is_some(), "POST /sync/push omits {status}");
    }
    for name in [
        "PushRequest",
        "PushOutcome",
        "ChangesPage",
        "PullResponse",
        "products_PushRequest",
        "sales_ChangesPage",
    ] {
        assert!(
            schemas[name]["example"].is_object(),
            "{name} has no example"
        );
    }
    // Examples use the table's own columns.
    assert!(schemas["products_PushRequest"]["example"]["operations"][0]["data"]["sku"].is_string());
    let codes = &schemas["ErrorDetail"]["properties"]["code"]["enum"];
    for code in [
        "validation_failed",
        "op_id_reused",
        "key_taken",
        "contended",
        "internal",
    ] {
        assert!(
            codes.as_array().unwrap().contains(&serde_json::json!(code)),
            "{code}"
        );
    }
}
