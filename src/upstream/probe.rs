//! Whether the hub is reachable now: a periodic `GET /health`, so that status answers never
//! wait on the network. Drains and snapshots update it too.

use super::HubClient;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProbeState {
    pub online: bool,
    /// Unix milliseconds of the last check.
    pub last_check: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Clone, Default)]
pub struct Connectivity(Arc<Mutex<ProbeState>>);

impl Connectivity {
    pub fn record(&self, result: Result<(), String>) {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        state.online = result.is_ok();
        state.last_error = result.err();
        state.last_check = Some(chrono::Utc::now().timestamp_millis());
    }

    pub fn state(&self) -> ProbeState {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn online(&self) -> bool {
        self.state().online
    }

    /// Checks the hub every `interval`.
    pub fn spawn_probe(
        &self,
        client: Arc<HubClient>,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let connectivity = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            loop {
                ticker.tick().await;
                let result = client.health().await.map_err(|e| e.to_string());
                if connectivity.online() != result.is_ok() {
                    tracing::info!(online = result.is_ok(), "hub connectivity changed");
                }
                connectivity.record(result);
            }
        })
    }
}
