//! The HTTP server: start-up (schema, database, migrations, tables, jobs), the routes, and a
//! graceful shutdown that lets in-flight requests finish.

mod accept_backoff;
mod body_limit;
mod cors;
mod load;
mod metrics_endpoint;
mod peer_gone;
pub mod reload;
mod request_log;
mod serve;
mod status_page;

pub use load::load_files;

use crate::api::{self, AppState, Served};
use crate::config::Config;
use crate::jobs::{self, JobsStatus};
use crate::plugins::Plugins;
use crate::schema::{Diagnostics, Schema};
use crate::store::{self, StoreError};
use crate::sync::feed::Feed;
use crate::upstream::Upstream;
use poem::listener::TcpAcceptor;
use poem::{EndpointExt, Route};
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
    let _lock = store::FileLock::acquire(&config.database.url).await?;
    let applied = store::migrate(&db).await?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    load::apply(&db, &schema, config).await?;
    // Tokens issued before they had a lifetime get one, counted from now.
    let expires_at = chrono::Utc::now().timestamp_millis()
        + config
            .devices
            .token_ttl
            .as_millis()
            .min(i64::MAX as u128 / 2) as i64;
    let bounded = store::devices::bound_token_lifetimes(&db, expires_at)
        .await
        .map_err(StoreError::from)?;
    if bounded > 0 {
        tracing::info!(
            devices = bounded,
            "device tokens given a lifetime (devices.token_ttl)"
        );
    }
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
    let address = listener.local_addr()?;
    let acceptor = peer_gone::PeerGone(accept_backoff::Backoff(TcpAcceptor::from_tokio(listener)?));
    tracing::info!(%address, tables = schema.tables.len(), "syncgate listening");
    let shutdown_timeout = config.server.shutdown_timeout;
    let authenticator =
        crate::auth::Authenticator::from_config(&config.auth).map_err(StartError::Config)?;
    let (feed, feed_tasks) = Feed::start(&db, feed_poll_interval(&config, &db))
        .await
        .map_err(StoreError::from)?;
    let activity = crate::sync::activity::Activity::default();
    let flusher = activity.spawn_flusher(db.clone(), config.devices.activity_flush);
    let checkpointer = crate::store::wal_checkpoint::spawn(&db);
    let delivery = crate::plugins::webhook::spawn_delivery(
        db.clone(),
        crate::plugins::webhook::WebhookSettings::from_config(&config.plugins),
    );
    let schema = Arc::new(schema);
    let api = api::build(schema.clone(), &config).map_err(StartError::Config)?;
    let upstream = config.upstream.as_ref().map(Upstream::new);
    let config_files_dir = config.files.dir.clone();
    let state = Arc::new(AppState {
        current: arc_swap::ArcSwap::from_pointee(Served::new(schema, plugins, api, 1)),
        config,
        db: db.clone(),
        jobs: jobs_status,
        authenticator,
        feed,
        activity: activity.clone(),
        upstream: upstream.clone(),
        files: Arc::new(crate::files::storage::LocalFiles::new(config_files_dir)),
        reloads: Default::default(),
    });
    let context = jobs::JobContext {
        db: db.clone(),
        feed: state.feed.clone(),
        schema: state.current_schema(),
        files: state.files.clone(),
        upstream: upstream.clone(),
    };
    let scheduled = jobs::all(&context, &state.config);
    let mut probe = None;
    if let (Some(upstream), Some(settings)) = (&upstream, &state.config.upstream) {
        probe = Some(
            upstream
                .connectivity
                .spawn_probe(upstream.client.clone(), settings.probe_interval),
        );
        tracing::info!(hub = %settings.url, device = %settings.device_id, "running as an edge");
    }
    let follower = state
        .config
        .sync
        .external_writes
        .then(|| spawn_follower(&state, upstream.is_some()));
    let mut scheduler = jobs::start(scheduled, state.jobs.clone(), db.clone()).await?;
    let reloader = reload::spawn(state.clone());
    let metrics = metrics_endpoint::start(&state).await?;
    // Live streams and long-polls never finish by themselves: when the shutdown signal comes,
    // the feed ends them, so that the graceful shutdown waits only for requests that do.
    let feed = state.feed.clone();
    let shutdown = async move {
        shutdown.await;
        feed.close();
    };
    let app = routes(state);
    serve::serve(acceptor, app, shutdown, shutdown_timeout).await;
    metrics.stop();
    feed_tasks.stop();
    reloader.abort();
    if let Some(follower) = follower {
        follower.abort();
    }
    if let Some(probe) = probe {
        probe.abort();
    }
    delivery.abort();
    flusher.abort();
    if let Some(checkpointer) = checkpointer {
        checkpointer.abort();
    }
    activity.flush(&db).await;
    let _ = scheduler.shutdown().await;
    let _ = db.close().await;
    tracing::info!("syncgate stopped");
    Ok(())
}

/// How often waiting readers look at the feed's head for writes this process did not make: on
/// SQLite, where other processes cannot announce theirs, `sync.external_poll` while external
/// writes are followed.
fn feed_poll_interval(config: &Config, db: &DatabaseConnection) -> std::time::Duration {
    let sync = &config.sync;
    match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite if sync.external_writes => {
            sync.poll_interval.min(sync.external_poll)
        }
        _ => sync.poll_interval,
    }
}

/// Starts following the log of rows other connections write (`sync.external_writes`): on an
/// edge they enter the outbox for the hub; `external_hooks` tables run their hooks.
fn spawn_follower(state: &Arc<AppState>, edge: bool) -> tokio::task::JoinHandle<()> {
    // Readers do not wait for it (the triggers placed the rows): the outbox entries and hooks
    // may follow a little later, in fewer, larger batches.
    let interval = state.config.sync.poll_interval;
    let served = state.clone();
    crate::sync::external::Follower::new(
        state.db.clone(),
        state.feed.clone(),
        edge,
        Arc::new(move || (served.schema(), served.plugins())),
    )
    .spawn(interval)
}

fn routes(state: Arc<AppState>) -> impl poem::Endpoint {
    let max_body = state.config.server.max_body_bytes;
    let cors = cors::middleware(&state.config.server.cors);
    let cors_on = cors.is_some();
    let metrics_here = state.config.metrics.enabled && state.config.metrics.listen.is_none();
    let logged = state.clone();
    let mut route = Route::new();
    if metrics_here {
        route = route.at("/metrics", poem::get(metrics_endpoint::Scrape));
    }
    route
        .at(
            "/status",
            poem::get(status_page::page(&state.config.server.api_prefix)),
        )
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
            poem::endpoint::make(|mut request: poem::Request| async move {
                // The API of the schema being served when the request arrived.
                match current(&request) {
                    Some(served) => {
                        let anonymous_role = request
                            .data::<Arc<AppState>>()
                            .and_then(|state| state.config.auth.anonymous_role.clone());
                        api::anonymous::admit(&mut request, anonymous_role.as_deref());
                        if let Some(served_path) = served
                            .api
                            .aliases
                            .rewrite(request.method().as_str(), request.uri().path())
                        {
                            let uri = match request.uri().query() {
                                Some(query) => format!("{served_path}?{query}"),
                                None => served_path,
                            };
                            if let Ok(uri) = uri.parse() {
                                *request.uri_mut() = uri;
                            }
                        }
                        let path = request.original_uri().path().to_string();
                        match served.api.endpoint.call(request).await {
                            Err(error)
                                if error.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED =>
                            {
                                let mut response = api::render_poem_error(error).await;
                                if let Some(methods) = served.api.methods.for_path(&path)
                                    && let Ok(value) = methods.parse()
                                {
                                    response
                                        .headers_mut()
                                        .insert(poem::http::header::ALLOW, value);
                                }
                                Ok(response)
                            }
                            other => other,
                        }
                    }
                    None => Err(poem::Error::from_status(
                        poem::http::StatusCode::SERVICE_UNAVAILABLE,
                    )),
                }
            }),
        )
        .around(move |next, request| async move {
            body_limit::limit_body(&next, request, max_body).await
        })
        .with_if(cors_on, cors.unwrap_or_default())
        .data(state)
        .catch_all_error(api::render_poem_error)
        .around(move |next, request| {
            let state = logged.clone();
            async move { request_log::around(&next, request, &state).await }
        })
}

fn current(request: &poem::Request) -> Option<Arc<Served>> {
    request
        .data::<Arc<AppState>>()
        .map(|state| state.current.load_full())
}
