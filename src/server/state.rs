//! What every request handler shares.

use crate::auth::Authenticator;
use crate::config::Config;
use crate::jobs::JobsStatus;
use crate::schema::Schema;
use crate::sync::activity::Activity;
use crate::sync::notify::FeedWatch;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

pub struct AppState {
    pub config: Config,
    pub db: DatabaseConnection,
    pub schema: Arc<Schema>,
    pub jobs: JobsStatus,
    pub authenticator: Authenticator,
    /// Wakes long-polling changes requests.
    pub feed: FeedWatch,
    /// When devices were last seen, flushed to the database now and then.
    pub activity: Activity,
}

impl AppState {
    /// The schema being served.
    pub fn schema(&self) -> Arc<Schema> {
        self.schema.clone()
    }
}
