//! `GET /health` (the process is up) and `GET /ready` (the database answers and every migration
//! is applied), for load balancers and orchestrators.

use super::error_body::ErrorBody;
use crate::jobs::JobStatus;
use crate::server::AppState;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use sea_orm::ConnectionTrait;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Tags)]
enum OpsTag {
    /// Liveness and readiness probes.
    Ops,
}

pub struct HealthApi;

#[derive(Object)]
struct Health {
    /// Always `ok` when the process answers.
    status: String,
    /// The gateway's version.
    version: String,
    /// Last run of each scheduled job since start.
    jobs: BTreeMap<String, JobStatus>,
}

#[derive(Object)]
struct Ready {
    /// `ready`.
    status: String,
    /// `sqlite` or `postgres`.
    database: String,
}

#[derive(ApiResponse)]
enum ReadyResponse {
    /// The gateway can serve requests.
    #[oai(status = 200)]
    Ready(Json<Ready>),
    /// The database does not answer or migrations are pending.
    #[oai(status = 503)]
    NotReady(Json<ErrorBody>),
}

#[OpenApi(tag = "OpsTag::Ops")]
impl HealthApi {
    /// Liveness: the process is up.
    #[oai(path = "/health", method = "get")]
    async fn health(&self, state: Data<&Arc<AppState>>) -> Json<Health> {
        Json(Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            jobs: state.jobs.snapshot(),
        })
    }

    /// Readiness: the database is reachable and its migrations are applied.
    #[oai(path = "/ready", method = "get")]
    async fn ready(&self, state: Data<&Arc<AppState>>) -> ReadyResponse {
        let backend = state.db.get_database_backend();
        if let Err(error) = state.db.execute_unprepared("SELECT 1").await {
            tracing::warn!(%error, "readiness check: database unreachable");
            return ReadyResponse::NotReady(Json(ErrorBody::new(
                "database_unavailable",
                "the database does not answer",
            )));
        }
        match crate::store::pending_migrations(&state.db).await {
            Ok(pending) if pending.is_empty() => ReadyResponse::Ready(Json(Ready {
                status: "ready".into(),
                database: match backend {
                    sea_orm::DbBackend::Postgres => "postgres".into(),
                    _ => "sqlite".into(),
                },
            })),
            Ok(pending) => ReadyResponse::NotReady(Json(ErrorBody::new(
                "migrations_pending",
                format!("migrations not applied: {}", pending.join(", ")),
            ))),
            Err(error) => {
                tracing::warn!(%error, "readiness check failed");
                ReadyResponse::NotReady(Json(ErrorBody::new(
                    "database_unavailable",
                    "the database does not answer",
                )))
            }
        }
    }
}
