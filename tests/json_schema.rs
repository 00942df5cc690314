//! The committed editor schema `schemas/sync-schema.json` matches the parser's types, and the
//! shipped schema files point editors at it.

use std::path::Path;

#[test]
fn the_committed_json_schema_matches_the_parser() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/sync-schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = syncgate::schema::json_schema::render();
    assert!(
        committed == generated,
        "schemas/sync-schema.json is out of date with the schema types; regenerate it with \
         `cargo run -- json-schema` and commit the result"
    );
}

#[test]
fn the_json_schema_describes_every_column_type_and_strategy() {
    let schema: serde_json::Value =
        serde_json::from_str(&syncgate::schema::json_schema::render()).unwrap();
    let text = schema.to_string();
    for name in [
        "text",
        "integer",
        "real",
        "decimal",
        "boolean",
        "timestamp",
        "date",
        "uuid",
        "json",
        "enum",
        "file",
        "server_wins",
        "client_wins",
        "last_write_wins",
        "merge",
        "manual",
        "hook",
        "branch_column",
        "owner_column",
        "permissions",
        "updated_at_column",
    ] {
        assert!(
            text.contains(&format!("\"{name}\"")),
            "`{name}` missing from the JSON Schema"
        );
    }
}

#[test]
fn shipped_schema_files_point_editors_at_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => assert!(
                text.starts_with("#:schema ./sync-schema.json"),
                "{} lacks the `#:schema ./sync-schema.json` directive",
                path.display()
            ),
            Some("json") if !path.ends_with("sync-schema.json") => assert!(
                text.contains("\"$schema\": \"./sync-schema.json\""),
                "{} lacks `\"$schema\": \"./sync-schema.json\"`",
                path.display()
            ),
            _ => {}
        }
    }
}
