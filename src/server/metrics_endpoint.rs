//! Serving `/metrics`: on the main listener, or on `metrics.listen` when that is set, behind
//! `metrics.token` when that is set. A scrape reads the gauges whose values live in the database
//! (outbox, webhook queue, open conflicts) or in the state (pool, upstream, schema generation),
//! then renders everything recorded in the Prometheus text format.

use super::StartError;
use crate::api::AppState;
use crate::ops::metrics::{
    self, CONFLICTS_OPEN, DB_POOL_CONNECTIONS, DB_POOL_MAX, OUTBOX_ENTRIES, OUTBOX_OLDEST_PENDING,
    SCHEMA_GENERATION, UPSTREAM_REACHABLE, WEBHOOK_DELIVERIES,
};
use crate::store::outbox::{CONFLICT, ERROR, PENDING, SYNCED};
use ::metrics::gauge;
use metrics_exporter_prometheus::PrometheusHandle;
use poem::http::StatusCode;
use poem::{Endpoint, Request, Response, Route, Server};
use std::sync::Arc;

/// The scrape endpoint; finds the gateway state in the request.
pub struct Scrape;

impl Endpoint for Scrape {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let Some(state) = request.data::<Arc<AppState>>() else {
            return Err(poem::Error::from_status(StatusCode::SERVICE_UNAVAILABLE));
        };
        scrape(state, &request).await
    }
}

async fn scrape(state: &AppState, request: &Request) -> poem::Result<Response> {
    if let Some(token) = &state.config.metrics.token {
        let sent = request
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(crate::auth::bearer_token);
        if sent != Some(token.expose()) {
            return Err(crate::api::error::ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "`/metrics` needs `Authorization: Bearer <metrics.token>`",
            )
            .into());
        }
    }
    let Some(handle) = metrics::install() else {
        return Err(poem::Error::from_status(StatusCode::SERVICE_UNAVAILABLE));
    };
    Ok(Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(render(state, handle).await))
}

/// What runs for metrics besides the endpoint: the recorder's upkeep and, with
/// `metrics.listen`, the separate server.
pub struct MetricsTasks(Vec<tokio::task::JoinHandle<()>>);

impl MetricsTasks {
    pub fn stop(self) {
        for task in self.0 {
            task.abort();
        }
    }
}

/// Installs the recorder when metrics are on, and binds `metrics.listen` when it is set.
pub async fn start(state: &Arc<AppState>) -> Result<MetricsTasks, StartError> {
    let mut tasks = Vec::new();
    if !state.config.metrics.enabled {
        return Ok(MetricsTasks(tasks));
    }
    let Some(handle) = metrics::install() else {
        tracing::warn!("another metrics recorder is installed; /metrics is off");
        return Ok(MetricsTasks(tasks));
    };
    tasks.push(metrics::spawn_upkeep(handle));
    if let Some(address) = state.config.metrics.listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|error| {
                StartError::Config(format!(
                    "cannot listen on `metrics.listen` = `{address}`: {error}"
                ))
            })?;
        tracing::info!(%address, "metrics listening");
        let acceptor =
            super::accept_backoff::Backoff(poem::listener::TcpAcceptor::from_tokio(listener)?);
        let app = poem::EndpointExt::data(Route::new().at("/metrics", Scrape), state.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(error) = Server::new_with_acceptor(acceptor).run(app).await {
                tracing::error!(%error, "the metrics listener stopped");
            }
        }));
    }
    Ok(MetricsTasks(tasks))
}

/// The text of a scrape: the gauges read now, then everything recorded.
async fn render(state: &AppState, handle: &PrometheusHandle) -> String {
    refresh_gauges(state).await;
    handle.render()
}

async fn refresh_gauges(state: &AppState) {
    let served = state.current.load();
    gauge!(SCHEMA_GENERATION).set(served.generation as f64);
    if let Some(upstream) = &state.upstream {
        gauge!(UPSTREAM_REACHABLE).set(if upstream.connectivity.online() {
            1.0
        } else {
            0.0
        });
    }
    let (size, idle) = pool_counts(&state.db);
    gauge!(DB_POOL_CONNECTIONS, "state" => "in_use")
        .set((size as usize).saturating_sub(idle) as f64);
    gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(idle as f64);
    gauge!(DB_POOL_MAX).set(f64::from(state.config.database.max_connections));
    match crate::store::gauges::read(&state.db).await {
        Ok(counts) => {
            // Statuses that emptied still show, as 0, rather than keep their last value.
            for status in [PENDING, SYNCED, ERROR, CONFLICT] {
                let n = counts
                    .outbox
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                gauge!(OUTBOX_ENTRIES, "status" => status.to_lowercase()).set(n as f64);
            }
            for status in ["pending", "delivered", "failed"] {
                let n = counts
                    .webhooks
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                gauge!(WEBHOOK_DELIVERIES, "status" => status).set(n as f64);
            }
            let age = counts.oldest_pending_at.map_or(0.0, |created| {
                (chrono::Utc::now().timestamp_millis() - created).max(0) as f64 / 1000.0
            });
            gauge!(OUTBOX_OLDEST_PENDING).set(age);
            gauge!(CONFLICTS_OPEN).set(counts.conflicts_open as f64);
        }
        Err(error) => tracing::warn!(%error, "metrics: cannot read the queue counts"),
    }
}

/// Connections open in the pool, and how many of them are idle.
fn pool_counts(db: &sea_orm::DatabaseConnection) -> (u32, usize) {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
    }
}
