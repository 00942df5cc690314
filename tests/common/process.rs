//! A gateway as its own process (`syncgate serve`), for tests of several replicas or tiers.

use super::binary;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A gateway process.
pub struct Gateway {
    child: Option<Child>,
    pub address: String,
    config: std::path::PathBuf,
    client: reqwest::Client,
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
        Self {
            child: None,
            address: format!("127.0.0.1:{port}"),
            config,
            client: reqwest::Client::new(),
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
            if let Ok(response) = self.client.get(self.url("/ready")).send().await
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

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    pub async fn push(&self, token: &str, operations: Value) -> (u16, Value) {
        self.post(
            token,
            "/api/v1/sync/push",
            json!({"device_id": "till-1", "operations": operations}),
        )
        .await
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}
