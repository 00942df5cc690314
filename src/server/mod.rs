//! The HTTP server: start-up (schema, database, migrations, tables, jobs), the routes, and a
//! graceful shutdown that lets in-flight requests finish.

mod body_limit;
mod load;
pub mod reload;
mod state;

pub use load::load_files;
pub use state::{AppState, Served};

use crate::api;
use crate::config::Config;
use crate::jobs::{self, JobsStatus};
use crate::plugins::Plugins;
use crate::schema::{Diagnostics, Schema};
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

/// Loads the schema and its hooks, connects, applies migrations and brings the schema's tables
/// up to date.
pub async fn prepare(config: &Config) -> Result<(Schema, Plugins, DatabaseConnection), StartError> {
    let (schema, plugins) = load::load_files(config)?;
    let db = store::connect(&config.database).await?;
    let applied = store::migrate(&db).await?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    load::apply(&db, &schema).await?;
    Ok((schema, plugins, db))
}

/// Runs the gateway on `listener` until `shutdown` completes, then waits up to
/// `server.shutdown_timeout` for in-flight requests.
pub async fn launch(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let (schema, plugins, db) = prepare(&config).await?;
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
    let delivery =
        crate::plugins::webhook::spawn_delivery(db.clone(), config.plugins.webhook_settings());
    let schema = Arc::new(schema);
    let api = api::build(schema.clone(), &config.server.api_prefix);
    let state = Arc::new(AppState {
        current: arc_swap::ArcSwap::from_pointee(Served {
            schema,
            plugins: Arc::new(plugins),
            api,
        }),
        config,
        db: db.clone(),
        jobs: jobs_status,
        authenticator,
        feed,
        activity: activity.clone(),
    });
    let reloader = reload::spawn(state.clone());
    let app = routes(state);
    let result = Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app, shutdown, Some(shutdown_timeout))
        .await;
    poller.abort();
    reloader.abort();
    delivery.abort();
    flusher.abort();
    activity.flush(&db).await;
    let _ = scheduler.shutdown().await;
    let _ = db.close().await;
    tracing::info!("syncgate stopped");
    result.map_err(StartError::Io)
}

fn routes(state: Arc<AppState>) -> impl poem::Endpoint {
    let max_body = state.config.server.max_body_bytes;
    Route::new()
        .at(
            "/openapi.json",
            poem::get(poem::endpoint::make_sync(|request: poem::Request| {
                let spec = current(&request)
                    .map(|served| served.api.spec.clone())
                    .unwrap_or_default();
                poem::Response::builder()
                    .content_type("application/json")
                    .body(spec)
            })),
        )
        .nest(
            "/docs",
            poem::endpoint::make(|request: poem::Request| async move {
                match current(&request) {
                    Some(served) => served.api.docs.call(request).await,
                    None => Err(poem::Error::from_status(
                        poem::http::StatusCode::SERVICE_UNAVAILABLE,
                    )),
                }
            }),
        )
        .nest(
            "/",
            poem::endpoint::make(|request: poem::Request| async move {
                // The API of the schema being served when the request arrived.
                match current(&request) {
                    Some(served) => served.api.endpoint.call(request).await,
                    None => Err(poem::Error::from_status(
                        poem::http::StatusCode::SERVICE_UNAVAILABLE,
                    )),
                }
            }),
        )
        .around(move |next, request| async move {
            body_limit::limit_body(&next, request, max_body).await
        })
        .data(state)
        .catch_all_error(api::error_body::render_poem_error)
}

fn current(request: &poem::Request) -> Option<Arc<Served>> {
    request
        .data::<Arc<AppState>>()
        .map(|state| state.current.load_full())
}
