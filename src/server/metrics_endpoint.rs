//! Serving `/metrics`: on the main listener, or on `metrics.listen` when that is set, behind
//! `metrics.token` when that is set.

use super::{AppState, StartError};
use crate::ops::metrics;
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
        .body(metrics::render(state, handle).await))
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
