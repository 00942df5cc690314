//! Concurrent pushes that share one SQLite transaction (group commit): each keeps its own
//! atomicity and its own answer. A refused batch leaves no trace, also when it had already
//! queued a conflict in the shared transaction (the others then run again); an answered push is
//! committed and readable — on every backend.

mod common;

use common::{API, Client, all_changes, backends, clerk, insert_op, sync_server};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

const CLIENTS: usize = 8;
const PUSHES: usize = 12;

/// What one client's pushes should have left: keys written, keys that must not exist, and
/// conflicts queued by batches that were applied.
#[derive(Default)]
struct Expected {
    present: BTreeSet<String>,
    absent: BTreeSet<String>,
    queued: usize,
}

fn item(key: &str, qty: i64) -> Value {
    insert_op(key, "items", json!({"id": key, "name": "n", "qty": qty}))
}

/// An update of the manual-conflict row `m` from version 1, which it has left: queues a
/// conflict, written to the transaction before the batch ends.
fn stale_update(op_id: &str) -> Value {
    json!({"op_id": op_id, "table": "t_manual", "action": "update", "base_version": 1,
           "data": {"id": "m", "body": op_id}})
}

async fn client_pushes(server: Arc<Client>, client: usize) -> Expected {
    let token = clerk(1);
    let device = format!("dev-{client}");
    let mut expected = Expected::default();
    for push in 0..PUSHES {
        let key = |i: usize| format!("c{client}-p{push}-{i}");
        match (client + push) % 4 {
            // An atomic batch: applied whole, readable once answered.
            0 => {
                let ops: Vec<Value> = (0..5).map(|i| item(&key(i), 1)).collect();
                let (status, body) = server.push(&token, &device, true, json!(ops)).await;
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["applied"].as_array().unwrap().len(), 5, "{body}");
                let (status, row) = server
                    .get_as(&token, &format!("{API}/tables/items/rows/{}", key(4)))
                    .await;
                assert_eq!(status, 200, "an answered push is committed: {row}");
                expected.present.extend((0..5).map(key));
            }
            // An atomic batch that queues a conflict, writes rows, then meets a bad value:
            // refused whole, the conflict and rows with it.
            1 => {
                let mut ops = vec![stale_update(&key(9))];
                ops.extend((0..4).map(|i| item(&key(i), 1)));
                ops.push(item(&key(4), -1));
                let (status, body) = server.push(&token, &device, true, json!(ops)).await;
                assert_eq!(status, 422, "{body}");
                expected.absent.extend((0..5).map(key));
            }
            // One by one: the bad operation alone fails.
            2 => {
                let ops = vec![item(&key(0), 1), item(&key(1), -1), item(&key(2), 1)];
                let (status, body) = server.push(&token, &device, false, json!(ops)).await;
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
                expected.present.extend([key(0), key(2)]);
                expected.absent.insert(key(1));
            }
            // An atomic batch that queues a conflict and is applied.
            _ => {
                let ops = vec![stale_update(&key(9)), item(&key(0), 1)];
                let (status, body) = server.push(&token, &device, true, json!(ops)).await;
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["conflicts"].as_array().unwrap().len(), 1, "{body}");
                expected.present.insert(key(0));
                expected.queued += 1;
            }
        }
    }
    expected
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_pushes_keep_their_own_atomicity_and_answers() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let token = clerk(1);
        let ops = json!([insert_op(
            "m1",
            "t_manual",
            json!({"id": "m", "body": "v1"})
        )]);
        assert_eq!(server.push(&token, "seed", true, ops).await.0, 200);
        let ops = json!([{"op_id": "m2", "table": "t_manual", "action": "update",
                          "base_version": 1, "data": {"id": "m", "body": "v2"}}]);
        assert_eq!(server.push(&token, "seed", true, ops).await.0, 200);

        let client = Arc::new(Client::new(server.base_url.clone()));
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|n| tokio::spawn(client_pushes(client.clone(), n)))
            .collect();
        let mut expected = Expected::default();
        for task in tasks {
            let one = task.await.expect("client task");
            expected.present.extend(one.present);
            expected.absent.extend(one.absent);
            expected.queued += one.queued;
        }

        let changes = all_changes(&server, &token, "").await;
        let keys: BTreeSet<String> = changes
            .iter()
            .filter(|change| change["table"] == "items")
            .map(|change| change["key"].as_str().unwrap().to_string())
            .collect();
        let missing = expected.present.difference(&keys).count();
        let leaked = expected.absent.intersection(&keys).count();
        assert_eq!(
            (missing, leaked),
            (0, 0),
            "{backend:?}: rows of answered pushes missing, rows of refused ones written"
        );
        let (status, conflicts) = server
            .get_as(&token, &format!("{API}/sync/conflicts"))
            .await;
        assert_eq!(status, 200, "{conflicts}");
        let queued = conflicts["conflicts"].as_array().unwrap().len();
        assert_eq!(
            queued, expected.queued,
            "{backend:?}: conflicts queued by refused batches must not stay"
        );
        let positions: BTreeSet<i64> = changes
            .iter()
            .map(|change| change["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(
            positions.len(),
            changes.len(),
            "{backend:?}: feed positions are unique"
        );
        server.stop().await;
    }
}
