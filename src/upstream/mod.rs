//! The edge side of edge-and-hub: a client of the hub's public API, the hub's reachability,
//! the drain job that pushes the outbox, and snapshots that pull the hub's rows.

mod client;
pub mod drain;
mod probe;
pub mod snapshot;

pub use client::{HubClient, HubError};
pub use probe::Connectivity;

use crate::config::UpstreamConfig;
use std::sync::Arc;

/// An edge's link to its hub.
#[derive(Clone)]
pub struct Upstream {
    pub client: Arc<HubClient>,
    pub connectivity: Connectivity,
}

impl Upstream {
    pub fn new(config: &UpstreamConfig) -> Self {
        Self {
            client: Arc::new(HubClient::new(config)),
            connectivity: Connectivity::default(),
        }
    }
}
