//! Shared test harness: real servers on 127.0.0.1 port 0, real SQLite files, and a real
//! PostgreSQL database per test when `SGTEST_POSTGRES_URL` is set (`scripts/test` sets it).
#![allow(dead_code)]

mod client;
mod events;
mod ops;
pub mod process;
mod rng;
mod sandbox;
mod server;
mod tokens;

// Each test file uses a part of the harness.
#[allow(unused_imports)]
pub use client::{API, Client};
#[allow(unused_imports)]
pub use events::{EventReader, Sse};
#[allow(unused_imports)]
pub use ops::{insert, insert_item, insert_op, operation};
#[allow(unused_imports)]
pub use rng::Rng;
#[allow(unused_imports)]
pub use sandbox::{Backend, POSTGRES_ENV, Sandbox, backends};
#[allow(unused_imports)]
pub use server::TestServer;
#[allow(unused_imports)]
pub use tokens::{TEST_SECRET, admin, clerk, token, token_with};

use serde_json::Value;

/// Path of the built `syncgate` binary, for command-line tests.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_syncgate")
}

/// The schema of the sync tests (`tests/fixtures/sync.toml`).
pub const SYNC_SCHEMA: &str = include_str!("../fixtures/sync.toml");

/// A server on `backend` with the sync test schema.
pub async fn sync_server(backend: Backend) -> (Sandbox, TestServer) {
    let sandbox = Sandbox::new(backend).await;
    sandbox.write_schema("sync.toml", SYNC_SCHEMA);
    let server = TestServer::start(sandbox.config()).await;
    (sandbox, server)
}

/// Every change the token can see, from the start (reads pages until `has_more` is false).
pub async fn all_changes(server: &Client, token: &str, query: &str) -> Vec<Value> {
    let mut cursor = String::new();
    let mut changes = Vec::new();
    loop {
        let (status, page) = server
            .get_as(
                token,
                &format!("{API}/sync/changes?cursor={cursor}&limit=1000{query}"),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        changes.extend(page["changes"].as_array().unwrap().iter().cloned());
        cursor = page["cursor"].as_str().unwrap().to_string();
        if !page["has_more"].as_bool().unwrap() {
            return changes;
        }
    }
}
