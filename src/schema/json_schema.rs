//! The JSON Schema of the schema files, committed at `schemas/sync-schema.json` so editors
//! validate and complete them. Regenerate it with `syncgate json-schema`; a test fails on drift.

use super::model::SchemaFile;

/// The JSON Schema document, pretty-printed with a trailing newline.
pub fn render() -> String {
    let schema = schemars::schema_for!(SchemaFile);
    let mut text = serde_json::to_string_pretty(&schema).expect("a JSON Schema serialises");
    text.push('\n');
    text
}
