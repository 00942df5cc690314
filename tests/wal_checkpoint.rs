//! SQLite: the gateway checkpoints the WAL in a task of its own, not in a writer's commit, and
//! the WAL still starts again from its beginning while writes keep coming (it grew without end
//! when the task only checkpointed beside the writers).

mod common;

use common::{Backend, Client, Sandbox, TestServer, clerk, insert_op};
use serde_json::json;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Restarts of the WAL to see while the pushes go on.
const RESTARTS: u32 = 4;

#[tokio::test(flavor = "multi_thread")]
async fn the_wal_starts_again_under_a_steady_push() {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_schema("sync.toml", common::SYNC_SCHEMA);
    let server = TestServer::start(sandbox.config()).await;
    let wal = sandbox.path().join("data/test.db-wal");
    let client = Arc::new(Client::new(server.base_url.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    // Four clients pushing back to back until told to stop: the WAL is never idle long enough
    // to be copied whole between two commits.
    let pushers: Vec<_> = (0..4)
        .map(|client_no| {
            let client = client.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let padding = "x".repeat(2_000);
                let mut push = 0;
                while !stop.load(Ordering::Relaxed) {
                    let ops: Vec<_> = (0..100)
                        .map(|i| {
                            let key = format!("c{client_no}-p{push}-{i}");
                            insert_op(
                                &key,
                                "items",
                                json!({"id": key, "name": "n", "extra": {"padding": padding}}),
                            )
                        })
                        .collect();
                    let (status, body) = client.push(&clerk(1), "dev-1", true, json!(ops)).await;
                    assert_eq!(status, 200, "{body}");
                    push += 1;
                }
                push
            })
        })
        .collect();
    // A timing-free measure: the header's checkpoint sequence number goes up each time the WAL
    // starts again from its beginning. (Its size is the file's high-water mark, which depends
    // on how fast this machine writes between two of the checkpointer's rounds.)
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut first = None;
    let mut restarts = 0;
    let mut largest = 0;
    while restarts < RESTARTS && Instant::now() < deadline {
        if let Some(sequence) = checkpoint_sequence(&wal) {
            let first = *first.get_or_insert(sequence);
            restarts = sequence.wrapping_sub(first);
        }
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut pushes = 0;
    for pusher in pushers {
        pushes += pusher.await.expect("pusher");
    }
    let data = std::fs::metadata(sandbox.path().join("data/test.db"))
        .unwrap()
        .len();
    assert!(
        restarts >= RESTARTS,
        "the WAL started again {restarts} times in 30 s of pushes ({pushes} of 100 rows of 2 KB; \
         the WAL reached {largest} bytes, the database {data})"
    );
    assert!(
        data > largest,
        "the rows reached the database file: {data} bytes, the WAL {largest}"
    );
    server.stop().await;
}

/// The WAL header's checkpoint sequence number (big-endian at bytes 12–15), once the file has
/// its header.
fn checkpoint_sequence(wal: &Path) -> Option<u32> {
    let mut header = [0u8; 16];
    std::fs::File::open(wal)
        .ok()?
        .read_exact(&mut header)
        .ok()?;
    let magic = u32::from_be_bytes(header[0..4].try_into().unwrap());
    // 0x377f0682/0x377f0683: a WAL header (zeroes while SQLite has not written one yet).
    (magic & !1 == 0x377f0682).then(|| u32::from_be_bytes(header[12..16].try_into().unwrap()))
}
