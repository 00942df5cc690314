//! `last_write_wins` converges on the newest operation by `updated_at`, whatever order the
//! operations arrive in and whatever base versions they carry: a property test over seeded
//! random sequences of inserts, updates, upserts and deletes from several devices, and the
//! second-delete case that once let an older update bring a deleted row back — on every backend.

mod common;

use common::{API, Rng, TestServer, backends, clerk, sync_server};
use serde_json::{Value, json};

/// Sequences per backend, and operations per sequence.
const SEQUENCES: usize = 40;
const OPERATIONS: usize = 10;
const ACTIONS: [&str; 4] = ["insert", "update", "upsert", "delete"];

fn time(minute: u64) -> String {
    format!("2026-11-01T{:02}:{:02}:00Z", minute / 60, minute % 60)
}

/// One push of one operation; the answer's entry for it and whether it was refused.
async fn send(server: &TestServer, device: &str, operation: Value) -> (u16, Value) {
    let (status, body) = server
        .push(&clerk(1), device, true, json!([operation]))
        .await;
    (status, body)
}

/// The row as a fresh read answers it: `None` when deleted or never written.
async fn stored(server: &TestServer, key: &str) -> Option<Value> {
    let (status, row) = server
        .get_as(&clerk(1), &format!("{API}/tables/t_lww/rows/{key}"))
        .await;
    match status {
        200 => Some(row),
        404 => None,
        other => panic!("reading {key}: {other} {row}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_newest_operation_by_updated_at_wins_in_any_order() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let mut rng = Rng(0x1a57_3717_u64);
        let mut differences = Vec::new();
        for sequence in 0..SEQUENCES {
            let key = format!("row-{sequence}");
            // Distinct times, so "the newest" is one operation.
            let mut minutes: Vec<u64> = (0..OPERATIONS as u64).map(|m| m * 7 + 1).collect();
            for i in (1..minutes.len()).rev() {
                minutes.swap(i, rng.below(i as u64 + 1) as usize);
            }
            // The version each device last saw of the row.
            let mut seen = [None::<i64>; 3];
            // (minute, deleted, body) of every operation the gateway took (applied or kept).
            let mut taken: Vec<(u64, bool, String)> = Vec::new();
            for (step, minute) in minutes.into_iter().enumerate() {
                let device = rng.below(3) as usize;
                let action = *rng.pick(&ACTIONS);
                let body = format!("{action} at {minute} by {device}");
                let mut data = json!({"id": key, "updated_at": time(minute)});
                if action != "delete" {
                    data["body"] = json!(body);
                }
                let mut operation = json!({"table": "t_lww", "action": action, "data": data});
                if let Some(version) = seen[device].filter(|_| rng.below(2) == 0) {
                    operation["base_version"] = json!(version);
                }
                let (status, answer) = send(&server, &format!("device-{device}"), operation).await;
                match status {
                    200 => {
                        let entry = answer["applied"][0]
                            .as_object()
                            .or_else(|| answer["conflicts"][0].as_object())
                            .unwrap_or_else(|| panic!("no entry: {answer}"));
                        seen[device] = entry["version"].as_i64();
                        taken.push((minute, action == "delete", body));
                    }
                    // An update or delete of a key never written.
                    404 => {}
                    other => {
                        panic!("{backend:?} sequence {sequence} step {step}: {other} {answer}")
                    }
                }
            }
            let Some((minute, deleted, body)) = taken.iter().max_by_key(|(m, ..)| *m).cloned()
            else {
                continue;
            };
            let row = stored(&server, &key).await;
            let expected_live = (!deleted).then(|| (body.clone(), time(minute)));
            let actual_live = row.as_ref().map(|row| {
                (
                    row["body"].as_str().unwrap_or_default().to_string(),
                    row["updated_at"].as_str().unwrap_or_default().to_string(),
                )
            });
            if actual_live
                .as_ref()
                .map(|(b, t)| (b.clone(), normalised(t)))
                != expected_live
                    .as_ref()
                    .map(|(b, t)| (b.clone(), normalised(t)))
            {
                differences.push(format!(
                    "{key}: expected {expected_live:?}, stored {actual_live:?}"
                ));
            }
        }
        println!(
            "{backend:?}: {SEQUENCES} sequences of {OPERATIONS} operations, {} differences",
            differences.len()
        );
        assert!(differences.is_empty(), "{backend:?}: {differences:#?}");
        server.stop().await;
    }
}

/// Timestamps compared as instants (PostgreSQL answers `+00:00` where the client sent `Z`).
fn normalised(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .unwrap_or(i64::MIN)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_later_delete_keeps_its_time_against_an_older_update() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let op = |action: &str, minute: u64, base: Option<i64>| {
            let mut data = json!({"id": "a", "updated_at": time(minute)});
            if action != "delete" {
                data["body"] = json!(format!("{action} at {minute}"));
            }
            let mut operation = json!({"table": "t_lww", "action": action, "data": data});
            if let Some(base) = base {
                operation["base_version"] = json!(base);
            }
            operation
        };
        assert_eq!(send(&server, "d1", op("insert", 0, None)).await.0, 200);
        let (_, first) = send(&server, "d2", op("delete", 10, None)).await;
        assert_eq!(first["applied"][0]["version"], 2, "{first}");
        let (_, second) = send(&server, "d3", op("delete", 30, None)).await;
        assert_eq!(
            second["applied"][0]["deleted"], true,
            "{backend:?}: {second}"
        );
        let (_, update) = send(&server, "d1", op("update", 20, Some(1))).await;
        assert_eq!(
            update["conflicts"][0]["conflict"]["resolution"], "server_kept",
            "{backend:?}: an update older than the newest delete must lose: {update}"
        );
        assert_eq!(stored(&server, "a").await, None, "{backend:?}");
        // A delete older than the stored one changes nothing.
        let (_, older) = send(&server, "d2", op("delete", 5, None)).await;
        assert_eq!(
            older["applied"][0]["version"],
            second["applied"][0]["version"]
        );
        server.stop().await;
    }
}
