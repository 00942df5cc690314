//! What every request handler shares, and what a reload swaps.

use crate::api::BuiltApi;
use crate::auth::Authenticator;
use crate::config::Config;
use crate::jobs::JobsStatus;
use crate::plugins::Plugins;
use crate::schema::Schema;
use crate::sync::activity::Activity;
use crate::sync::notify::FeedWatch;
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
    /// Wakes long-polling changes requests.
    pub feed: FeedWatch,
    /// Feed reads shared by the requests that want the same page at once.
    pub reads: crate::sync::shared_read::SharedReads,
    /// When devices were last seen, flushed to the database now and then.
    pub activity: Activity,
    /// The hub, on an edge.
    pub upstream: Option<Upstream>,
    /// Where files of `file` columns are stored.
    pub files: Arc<dyn crate::files::storage::FileStorage>,
    /// The last failed reload, for `/health`.
    pub reloads: super::reload::ReloadHistory,
}

impl AppState {
    /// The schema being served.
    pub fn schema(&self) -> Arc<Schema> {
        self.current.load().schema.clone()
    }

    /// The hooks being served.
    pub fn plugins(&self) -> Arc<Plugins> {
        self.current.load().plugins.clone()
    }
}
