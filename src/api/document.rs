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
                keep_possible_errors(method, operation);
            }
        }
    }
    document["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"] =
        json!(ERROR_CODES);
    // A pull page holds at most 5000 rows (larger limits are capped).
    document["components"]["schemas"]["PullRequest"]["properties"]["limit"]["maximum"] =
        json!(5000);
    let mut text = serde_json::to_string_pretty(&document).unwrap_or(spec);
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

/// The `limit` of a changes feed or outbox log page: at most 1000 (larger values are capped).
fn document_limits(path: &str, operation: &mut Value) {
    if !(path.ends_with("/changes") || path.ends_with("/sync/log")) {
        return;
    }
    for parameter in operation["parameters"].as_array_mut().into_iter().flatten() {
        if parameter["name"] == "limit" {
            parameter["schema"]["maximum"] = json!(1000);
            parameter["schema"]["minimum"] = json!(1);
        }
    }
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
