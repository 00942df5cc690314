//! What every request handler shares.

use crate::config::Config;
use crate::jobs::JobsStatus;
use crate::schema::Schema;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

pub struct AppState {
    pub config: Config,
    pub db: DatabaseConnection,
    pub schema: Arc<Schema>,
    pub jobs: JobsStatus,
}
