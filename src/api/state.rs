//! What every request handler shares, and what a reload swaps.

use super::BuiltApi;
use crate::auth::Authenticator;
use crate::config::Config;
use crate::jobs::JobsStatus;
use crate::plugins::Plugins;
use crate::schema::{CurrentSchema, Schema};
use crate::sync::activity::Activity;
use crate::sync::feed::Feed;
use crate::upstream::Upstream;
use arc_swap::ArcSwap;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

/// The schema being served with its hooks and its API. A reload replaces it whole; a request
/// keeps the one it started with.
pub struct Served {
    pub schema: Arc<Schema>,
    pub plugins: Arc<Plugins>,
    pub api: BuiltApi,
    /// 1 for the schema loaded at start, one more for each successful reload.
    pub generation: u64,
    /// When it started serving.
    pub loaded_at: chrono::DateTime<chrono::Utc>,
}

impl Served {
    pub fn new(schema: Arc<Schema>, plugins: Plugins, api: BuiltApi, generation: u64) -> Self {
        Self {
            schema,
            plugins: Arc::new(plugins),
            api,
            generation,
            loaded_at: chrono::Utc::now(),
        }
    }
}

pub struct AppState {
    pub config: Config,
    pub db: DatabaseConnection,
    pub current: ArcSwap<Served>,
    pub jobs: JobsStatus,
    pub authenticator: Authenticator,
    /// The read side: what wakes readers, and the reads they share.
    pub feed: Feed,
    /// When devices were last seen, flushed to the database now and then.
    pub activity: Activity,
    /// The hub, on an edge.
    pub upstream: Option<Upstream>,
    /// Where files of `file` columns are stored.
    pub files: Arc<dyn crate::files::storage::FileStorage>,
    /// The last failed reload, for `/health`.
    pub reloads: ReloadHistory,
}

impl AppState {
    /// The schema being served.
    pub fn schema(&self) -> Arc<Schema> {
        self.current.load().schema.clone()
    }

    /// The schema being served, asked anew each time (for what outlives a request: jobs and
    /// streams).
    pub fn current_schema(self: &Arc<Self>) -> CurrentSchema {
        let state = self.clone();
        Arc::new(move || state.schema())
    }

    /// The hooks being served.
    pub fn plugins(&self) -> Arc<Plugins> {
        self.current.load().plugins.clone()
    }
}

/// What `/health` says of the schema: what serves, and the last reload that failed (until a
/// later one succeeds).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FailedReload {
    /// When it failed (RFC 3339).
    pub at: String,
    /// The first file named by the errors, when they name one.
    pub file: Option<String>,
    /// Every error, one per line.
    pub error: String,
}

/// The last failed reload, cleared by a successful one.
#[derive(Debug, Default)]
pub struct ReloadHistory(std::sync::Mutex<Option<FailedReload>>);

impl ReloadHistory {
    pub fn last_failure(&self) -> Option<FailedReload> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Keeps `failure` as the last one, or clears it (`None`) after a successful reload.
    pub fn record(&self, failure: Option<FailedReload>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = failure;
    }
}
