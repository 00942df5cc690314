//! A gateway as its own process (`syncgate serve`), for tests of several replicas or tiers.

use super::binary;
use super::client::Client;
use std::ops::Deref;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A gateway process, started by [`Gateway::start`] and killed by [`Gateway::kill`] (or when
/// dropped). Its requests are [`Client`]'s.
pub struct Gateway {
    child: Option<Child>,
    pub address: String,
    config: std::path::PathBuf,
    api: Client,
}

impl Deref for Gateway {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.api
    }
}

/// The config keys of an edge of the hub on `hub_port`, acting there with `token` as
/// `device_id`: a 200 ms probe, the drain on `drain_schedule` ("" keeps it off), no snapshot
/// job.
pub fn edge_keys(hub_port: u16, token: &str, device_id: &str, drain_schedule: &str) -> String {
    format!(
        "[upstream]\nurl = \"http://127.0.0.1:{hub_port}{}\"\ntoken = \"{token}\"\n\
         device_id = \"{device_id}\"\nprobe_interval = \"200ms\"\n\n\
         [jobs.drain]\nschedule = \"{drain_schedule}\"\n\n[jobs.snapshot]\nschedule = \"\"\n",
        super::API
    )
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Gateway {
    pub fn new(config: std::path::PathBuf, port: u16) -> Self {
        let address = format!("127.0.0.1:{port}");
        Self {
            child: None,
            api: Client::new(format!("http://{address}")),
            address,
            config,
        }
    }

    pub async fn start(&mut self) {
        let child = Command::new(binary())
            .args(["serve", "--listen", &self.address, "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "syncgate=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = self.api.client.get(self.api.url("/ready")).send().await
                && response.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "{} did not start", self.address);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two replicas of the sync test schema on one PostgreSQL, started, with ten seconds between
/// polls of the feed: only a notification can reach replica B in time. `None` (the test
/// skips) when no PostgreSQL is configured.
pub async fn postgres_replicas() -> Option<(super::Sandbox, Gateway, Gateway)> {
    use super::{Backend, SYNC_SCHEMA, Sandbox, backends};
    if !backends().contains(&Backend::Postgres) {
        eprintln!("PostgreSQL not configured: skipped");
        return None;
    }
    let sandbox = Sandbox::new(Backend::Postgres).await;
    sandbox.write_schema("sync.toml", SYNC_SCHEMA);
    let config =
        sandbox.write_config("[sync]\npoll_interval = \"10s\"\n[plugins]\nwatch = false\n");
    let mut replica_a = Gateway::new(config.clone(), free_port());
    let mut replica_b = Gateway::new(config, free_port());
    replica_a.start().await;
    replica_b.start().await;
    Some((sandbox, replica_a, replica_b))
}
