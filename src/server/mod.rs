//! The HTTP server: start-up (schema, database, migrations, tables, jobs), the routes, and a
//! graceful shutdown that lets in-flight requests finish.

mod body_limit;
mod state;

pub use state::AppState;

use crate::api;
use crate::config::Config;
use crate::jobs::{self, JobsStatus};
use crate::schema::{self, Diagnostics, Schema};
use crate::store::{self, StoreError};
use crate::sync::notify::FeedWatch;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::{EndpointExt, Route, Server};
use sea_orm::DatabaseConnection;
use std::future::Future;
use std::sync::Arc;

/// Why the gateway could not start. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Schema(#[from] Diagnostics),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot start the job scheduler: {0}")]
    Jobs(#[from] tokio_cron_scheduler::JobSchedulerError),
    #[error("the HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// Loads the schema, connects, applies migrations and brings the schema's tables up to date.
pub async fn prepare(config: &Config) -> Result<(Schema, DatabaseConnection), StartError> {
    let schema = schema::load_dir(&config.paths.schemas, &config.paths.plugins)?;
    let db = store::connect(&config.database).await?;
    let applied = store::migrate(&db).await?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    let plan = store::reconcile(&db, &schema).await?;
    for change in &plan.changes {
        tracing::info!(%change, "schema applied");
    }
    for table in &plan.undeclared {
        tracing::warn!(
            table,
            "table is in the database but no longer in the schema; left as it is"
        );
    }
    Ok((schema, db))
}

/// Runs the gateway on `listener` until `shutdown` completes, then waits up to
/// `server.shutdown_timeout` for in-flight requests.
pub async fn launch(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let (schema, db) = prepare(&config).await?;
    let jobs_status = JobsStatus::default();
    let mut scheduler = jobs::start(&config.jobs, db.clone(), jobs_status.clone()).await?;
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    let addresses = acceptor.local_addr();
    tracing::info!(
        address = ?addresses.first().map(|a| a.to_string()),
        tables = schema.tables.len(),
        "syncgate listening"
    );
    let shutdown_timeout = config.server.shutdown_timeout;
    let authenticator =
        crate::auth::Authenticator::from_config(&config.auth).map_err(StartError::Config)?;
    let feed = FeedWatch::new(store::feed::head(&db).await.map_err(StoreError::from)?);
    let poller = feed.spawn_poller(db.clone(), config.sync.poll_interval);
    let activity = crate::sync::activity::Activity::default();
    let flusher = activity.spawn_flusher(db.clone(), config.devices.activity_flush);
    let state = Arc::new(AppState {
        config,
        db: db.clone(),
        schema: Arc::new(schema),
        jobs: jobs_status,
        authenticator,
        feed,
        activity: activity.clone(),
    });
    let app = routes(state);
    let result = Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app, shutdown, Some(shutdown_timeout))
        .await;
    poller.abort();
    flusher.abort();
    activity.flush(&db).await;
    let _ = scheduler.shutdown().await;
    let _ = db.close().await;
    tracing::info!("syncgate stopped");
    result.map_err(StartError::Io)
}

fn routes(state: Arc<AppState>) -> impl poem::Endpoint {
    let max_body = state.config.server.max_body_bytes;
    let built = api::build(state.schema(), &state.config.server.api_prefix);
    let spec = built.spec;
    Route::new()
        .at(
            "/openapi.json",
            poem::get(poem::endpoint::make_sync(move |_| {
                poem::Response::builder()
                    .content_type("application/json")
                    .body(spec.clone())
            })),
        )
        .nest("/docs", built.docs)
        .nest("/", built.endpoint)
        .around(move |next, request| async move {
            body_limit::limit_body(&next, request, max_body).await
        })
        .data(state)
        .catch_all_error(api::error_body::render_poem_error)
}
