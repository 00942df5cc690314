//! The last touches to the generated OpenAPI document, for consumers and their generators:
//! one JSON media type, a server, bearer auth required by default (the health, readiness and
//! document endpoints marked open), an operation id and a description on every operation and
//! answer, only the error statuses an operation can answer, and the error `code` as the enum of
//! the codes the gateway answers with.

use serde_json::{Value, json};

/// Every `code` of the error body (README, "Errors").
pub const ERROR_CODES: &[&str] = &[
    "unauthorized",
    "forbidden",
    "unknown_table",
    "row_not_found",
    "not_found",
    "key_taken",
    "already_resolved",
    "conflict",
    "resync_required",
    "validation_failed",
    "op_id_reused",
    "malformed_json",
    "bad_request",
    "payload_too_large",
    "method_not_allowed",
    "file_too_large",
    "unsupported_media_type",
    "rejected_by_hook",
    "hook_failed",
    "not_an_edge",
    "hub_unreachable",
    "hub_refused",
    "contended",
    "database_unavailable",
    "migrations_pending",
    "internal",
];

/// Operations anyone may call, without a token.
const OPEN: &[(&str, &str, &str)] = &[("/health", "get", "health"), ("/ready", "get", "ready")];

/// Applies the touches to the pretty-printed document `spec`.
pub fn finish(spec: &str) -> String {
    // poem-openapi's own `Json` payloads declare `application/json; charset=utf-8`; generated
    // clients look for `application/json` (openapi-fetch matches `*/json`).
    let spec = spec.replace(
        "\"application/json; charset=utf-8\"",
        "\"application/json\"",
    );
    let Ok(mut document) = serde_json::from_str::<Value>(&spec) else {
        return spec;
    };
    document["servers"] = json!([{"url": "/", "description": "This gateway."}]);
    document["security"] = json!([{"BearerAuth": []}]);
    if let Some(paths) = document["paths"].as_object_mut() {
        for (path, operations) in paths.iter_mut() {
            for (method, operation) in operations.as_object_mut().into_iter().flatten() {
                if let Some((_, _, id)) = OPEN.iter().find(|(p, m, _)| p == path && m == method) {
                    operation["security"] = json!([]);
                    operation["operationId"] = json!(id);
                }
                describe_answers(operation);
                describe_event_streams(operation);
                document_limits(path, operation);
                declare_inputs(operation);
                keep_possible_errors(method, operation);
            }
        }
    }
    document["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"] =
        json!(ERROR_CODES);
    declare_bodies(&mut document["components"]["schemas"]);
    nullable_optionals(&mut document);
    let mut text = serde_json::to_string_pretty(&document).unwrap_or(spec);
    text.push('\n');
    text
}

/// The finished document with what the config adds: its aliases (deprecated copies of their
/// endpoints) and, with `auth.anonymous_role`, the token made optional.
pub fn configured(
    spec: &str,
    aliases: &super::aliases::Aliases,
    anonymous_role: Option<&str>,
) -> String {
    if aliases.is_empty() && anonymous_role.is_none() {
        return spec.to_string();
    }
    let Ok(mut document) = serde_json::from_str::<Value>(spec) else {
        return spec.to_string();
    };
    aliases.document(&mut document);
    if let Some(role) = anonymous_role {
        // An empty requirement: the request may send no credentials at all.
        document["security"] = json!([{"BearerAuth": []}, {}]);
        let description = document["info"]["description"].as_str().unwrap_or_default();
        document["info"]["description"] = json!(format!(
            "{description} This gateway serves requests without a token as the role `{role}` \
             (config `auth.anonymous_role`): they may do what that role permits."
        ));
    }
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_else(|_| spec.to_string());
    text.push('\n');
    text
}

/// A `text/event-stream` answer is documented by the shape of one event (what SSE tools such as
/// schemathesis check), not as an array: `id` the change's `seq`, `event: change`, and `data` a
/// `Change` as JSON text.
fn describe_event_streams(operation: &mut Value) {
    let Some(responses) = operation["responses"].as_object_mut() else {
        return;
    };
    for response in responses.values_mut() {
        if let Some(stream) = response
            .get_mut("content")
            .and_then(|content| content.get_mut("text/event-stream"))
        {
            stream["schema"] = json!({
                "type": "object",
                "description": "One server-sent event: a change of the feed.",
                "required": ["id", "event", "data"],
                "properties": {
                    "id": {"type": "string", "description": "The change's `seq`; send it back as `Last-Event-ID` to resume."},
                    "event": {"type": "string", "enum": ["change"]},
                    "data": {"type": "string", "description": "The change as JSON: a `Change` object (`#/components/schemas/Change`)."}
                }
            });
        }
    }
}

/// An answer without a description gets one from its status and the operation's summary.
fn describe_answers(operation: &mut Value) {
    let summary = operation["summary"]
        .as_str()
        .unwrap_or("the operation")
        .to_string();
    for (status, answer) in operation["responses"].as_object_mut().into_iter().flatten() {
        if answer["description"].as_str().is_none_or(str::is_empty) {
            let what = match status.as_str() {
                "201" => "Created",
                "204" => "Done; no content",
                _ => "Success",
            };
            answer["description"] = json!(format!("{what}: {}.", summary.trim_end_matches('.')));
        }
    }
}

/// The `limit` of a page: at least 1; a larger one than the page size is capped, not refused
/// (seed 002's rule), so the document declares only the type's maximum and the description
/// says the cap.
fn document_limits(path: &str, operation: &mut Value) {
    if !(path.ends_with("/changes") || path.ends_with("/sync/log")) {
        return;
    }
    let parameters = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut);
    for parameter in parameters.into_iter().flatten() {
        if parameter["name"] == "limit" {
            parameter["schema"]["minimum"] = json!(1);
            parameter["schema"]["maximum"] = json!(u64::MAX);
        }
    }
}

/// What `SyncError::check_identifier` accepts (device ids, op ids, upload and file ids): 1 to
/// 200 characters, no control characters (Unicode `Cc`), not only white space.
pub const IDENTIFIER_PATTERN: &str =
    r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f\s][^\x00-\x1f\x7f-\x9f]*$";

/// What `parse_cursor` accepts: empty (the start), or a position and, after a dot, the view's
/// stamps (14 hex digits per table), with white space around.
pub const CURSOR_PATTERN: &str = r"^\s*([0-9]{1,18}(\.([0-9a-fA-F]{14})*)?)?\s*$";

fn identifier_schema(schema: &mut Value) {
    schema["pattern"] = json!(IDENTIFIER_PATTERN);
    schema["minLength"] = json!(1);
    schema["maxLength"] = json!(200);
}

/// The parameters' rules the gateway enforces: path ids are identifiers, cursors have their
/// shape, `wait` is not negative, `last_hours` fits its type.
fn declare_inputs(operation: &mut Value) {
    let parameters = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut);
    for parameter in parameters.into_iter().flatten() {
        let name = parameter["name"].as_str().unwrap_or_default().to_string();
        let place = parameter["in"].as_str().unwrap_or_default().to_string();
        let schema = &mut parameter["schema"];
        match (place.as_str(), name.as_str()) {
            ("path", "id") if schema["type"] == "string" => identifier_schema(schema),
            ("query", "cursor") | ("header", "Last-Event-ID") => {
                schema["pattern"] = json!(CURSOR_PATTERN)
            }
            // The type's bounds (`format: uint64` alone bounds nothing for a validator).
            ("query", "wait") => {
                schema["minimum"] = json!(0);
                schema["maximum"] = json!(u64::MAX);
            }
            ("query", "last_hours") => schema["maximum"] = json!(u32::MAX),
            _ => {}
        }
    }
}

/// The request bodies' rules the gateway enforces: a push names only its own fields, and its
/// device and op ids are identifiers; body cursors have their shape.
fn declare_bodies(schemas: &mut Value) {
    let Some(schemas) = schemas.as_object_mut() else {
        return;
    };
    for (name, schema) in schemas.iter_mut() {
        let push = name == "PushRequest" || name.ends_with("_PushRequest");
        let operation = name == "PushOperation" || name.ends_with("_Operation");
        if push || operation {
            schema["additionalProperties"] = json!(false);
        }
        let Some(properties) = schema.get_mut("properties") else {
            continue;
        };
        if push && properties.get("device_id").is_some() {
            identifier_schema(&mut properties["device_id"]);
        }
        if operation && properties.get("op_id").is_some() {
            identifier_schema(&mut properties["op_id"]);
        }
        if matches!(name.as_str(), "PullRequest" | "AckRequest")
            && properties.get("cursor").is_some()
        {
            properties["cursor"]["pattern"] = json!(CURSOR_PATTERN);
        }
        if name == "AckRequest" && properties.get("device_id").is_some() {
            identifier_schema(&mut properties["device_id"]);
        }
        // The upload's own checks answer 400 with their reason (files/uploads.rs).
        if name == "NewUpload" && properties.get("sha256").is_some() {
            properties["size"]["minimum"] = json!(1);
            properties["chunk_size"]["minimum"] = json!(1);
            properties["chunk_size"]["maximum"] = json!(crate::files::uploads::MAX_CHUNK_SIZE);
            properties["sha256"]["pattern"] = json!("^[0-9a-fA-F]{64}$");
        }
    }
}

/// Every optional field of a request body (and of the objects in its arrays, such as a push's
/// operations) but one that refers to another schema may be `null`, the same as left out: the gateway reads it so (clients often send
/// `null` for "not set"), and the document says so. Row values are not touched: a column's own
/// nullability is its schema's.
fn nullable_optionals(document: &mut Value) {
    let mut names: Vec<String> = Vec::new();
    for operations in document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        for operation in operations.as_object().into_iter().flat_map(|o| o.values()) {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            if let Some(name) = schema["$ref"].as_str().and_then(schema_name) {
                names.push(name.to_string());
            }
        }
    }
    let schemas = &mut document["components"]["schemas"];
    let mut nested = Vec::new();
    for name in &names {
        for property in schemas[name]["properties"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.values())
        {
            if let Some(item) = property["items"]["$ref"].as_str().and_then(schema_name) {
                nested.push(item.to_string());
            }
        }
    }
    names.extend(nested);
    names.sort();
    names.dedup();
    for name in names {
        let schema = &mut schemas[&name];
        let required: Vec<String> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(String::from))
            .collect();
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (field, property) in properties.iter_mut() {
            if required.contains(field) {
                continue;
            }
            // A `$ref` cannot carry `nullable` in OpenAPI 3.0 (an `allOf` wrapper would, but
            // trips client generators): such a field is not nullable, and the gateway refuses
            // `null` for it.
            // An operation's `data` is not nullable either: per table it is a `$ref`, and the
            // generic operation is read the same way.
            let operation_data = name == "PushOperation" && field == "data";
            if property.get("$ref").is_none() && !operation_data {
                property["nullable"] = json!(true);
            }
        }
    }
}

fn schema_name(reference: &str) -> Option<&str> {
    reference.strip_prefix("#/components/schemas/")
}

/// Drops the error statuses an operation cannot answer: 422 needs a parameter or a body, 413
/// and 415 a body, 409 a write or a read from a cursor, 404 a path parameter, a body (which names a table, a row or a
/// device) or table names (the sync and per-table endpoints). schemathesis (`scripts/schemathesis`) fails on any status an
/// operation answers that its document does not list, so a status dropped wrongly shows there.
fn keep_possible_errors(method: &str, operation: &mut Value) {
    let has_body = operation.get("requestBody").is_some();
    let parameters: Vec<(String, String)> = operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["in"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let has_path = parameters.iter().any(|(_, place)| place == "path");
    let has_input = has_body || parameters.iter().any(|(_, place)| place != "header");
    let names_tables = operation["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t == "Sync"))
        || parameters.iter().any(|(name, _)| name == "tables")
        || !operation["tags"].as_array().is_some_and(|tags| {
            tags.iter().any(|t| {
                ["Sync", "Devices", "Edge", "Files", "Ops"]
                    .contains(&t.as_str().unwrap_or_default())
            })
        });
    let writes = method != "get";
    // A read from a cursor answers 409 `resync_required` when the caller's view changed.
    let reads_from_cursor = parameters.iter().any(|(name, _)| name == "cursor");
    if let Some(responses) = operation["responses"].as_object_mut() {
        responses.retain(|status, _| match status.as_str() {
            "422" => has_input,
            "413" | "415" => has_body,
            "409" => writes || reads_from_cursor,
            "404" => has_path || has_body || names_tables,
            _ => true,
        });
    }
}
