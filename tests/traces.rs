//! OpenTelemetry traces: a gateway process with `[tracing] endpoint` set exports its spans over
//! OTLP/HTTP to a real receiver (`scripts/lib/otlp_sink.py`, decoding the OpenTelemetry
//! project's protobuf messages); one push arrives as one trace continuing the caller's
//! `traceparent`, with the request id as an attribute and each stage a child of the right span.

mod common;

use common::process::{Gateway, free_port};
use common::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The receiver process, killed when dropped.
struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the receiver; `None` when Python lacks `opentelemetry-proto` and the run does not
/// require it (`scripts/test` installs it and sets `SGTEST_REQUIRE_OTLP`).
fn start_sink(port: u16, out: &std::path::Path) -> Option<Sink> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/lib/otlp_sink.py");
    let probe = Command::new("python3")
        .args(["-c", "import opentelemetry.proto"])
        .status();
    if !probe.is_ok_and(|status| status.success()) {
        assert!(
            std::env::var("SGTEST_REQUIRE_OTLP").is_err(),
            "python3 cannot import opentelemetry.proto: pip install opentelemetry-proto"
        );
        eprintln!("skipped: python3 lacks opentelemetry-proto (scripts/test installs it)");
        return None;
    }
    let mut child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(out)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the OTLP receiver");
    // It prints a line once it listens.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "listening");
    Some(Sink(child))
}

fn spans_in(out: &std::path::Path, trace_id: &str) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|span| span["trace_id"] == trace_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_is_one_trace_with_each_stage_under_its_parent() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_schema("sync.toml", SYNC_SCHEMA);
    let out = sandbox.path().join("spans.jsonl");
    let sink_port = free_port();
    let Some(_sink) = start_sink(sink_port, &out) else {
        return;
    };
    let config = sandbox.write_config(&format!(
        "[tracing]\nendpoint = \"http://127.0.0.1:{sink_port}\"\nservice_name = \"syncgate-test\"\n\
         level = \"syncgate=debug\"\n[plugins]\nwatch = false\n"
    ));
    let mut gateway = Gateway::new(config, free_port());
    gateway.start().await;

    // The caller's trace and span, as its own tracing would send them.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let ops = json!([insert_item("traced-1"), insert_item("traced-2")]);
    let response = gateway
        .client
        .post(gateway.url(&format!("{API}/sync/push")))
        .bearer_auth(clerk(1))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .header("x-request-id", "trace-test-1")
        .json(&json!({"device_id": "tracer", "operations": ops}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // The batch exporter sends every few seconds.
    let deadline = Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans = spans_in(&out, trace_id);
        let request_name = format!("POST {API}/sync/push");
        if spans.iter().any(|span| span["name"] == "commit")
            && spans
                .iter()
                .any(|span| span["name"] == request_name.as_str())
        {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "no complete trace of the push arrived: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    gateway.kill();

    let by_id: HashMap<&str, &Value> = spans
        .iter()
        .map(|span| (span["span_id"].as_str().unwrap(), span))
        .collect();
    let named =
        |name: &str| -> Vec<&Value> { spans.iter().filter(|span| span["name"] == name).collect() };
    let parent_name = |span: &Value| -> String {
        by_id
            .get(span["parent_span_id"].as_str().unwrap())
            .map_or("(outside)".into(), |parent| {
                parent["name"].as_str().unwrap().to_string()
            })
    };
    let request = named(&format!("POST {API}/sync/push"));
    assert_eq!(request.len(), 1, "one request span: {spans:#?}");
    let request = request[0];
    assert_eq!(
        request["parent_span_id"], caller_span,
        "continues the caller's span"
    );
    assert_eq!(
        request["attributes"]["request_id"], "trace-test-1",
        "{request}"
    );
    assert_eq!(
        request["attributes"]["http.response.status_code"], 200,
        "{request}"
    );
    assert_eq!(request["service"], "syncgate-test");
    assert_eq!(request["kind"], 2, "a server span");

    let request_name = format!("POST {API}/sync/push");
    for (child, parent) in [
        ("auth", request_name.as_str()),
        ("push", request_name.as_str()),
        ("validate", "push"),
        ("attempt", "push"),
        ("read", "attempt"),
        ("apply", "attempt"),
        ("operation", "apply"),
        ("scope", "operation"),
        ("conflict", "operation"),
        ("hooks", "operation"),
        ("write", "attempt"),
        ("commit", "attempt"),
    ] {
        let found = named(child);
        assert!(!found.is_empty(), "no `{child}` span in {spans:#?}");
        for span in found {
            assert_eq!(parent_name(span), parent, "the parent of `{child}`");
            assert!(span["end_ns"].as_u64() >= span["start_ns"].as_u64());
        }
    }
    assert_eq!(named("operation").len(), 2, "one span per operation");
    // A stage starts within its push (work it hands off, such as `after_commit` hooks, may
    // keep it open after the push answered).
    let push = named("push")[0];
    for stage in ["validate", "write", "commit"] {
        let stage = named(stage)[0];
        assert!(stage["start_ns"].as_u64() >= push["start_ns"].as_u64());
        assert!(stage["start_ns"].as_u64() <= push["end_ns"].as_u64());
    }
}
