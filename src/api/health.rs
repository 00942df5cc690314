//! `GET /health` (the process is up) and `GET /ready` (the database answers and every migration
//! is applied), for load balancers and orchestrators.

use super::error_body::ErrorBody;
use crate::api::AppState;
use crate::jobs::JobStatus;
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
    // No doc comment: it would wrap the reference in `allOf` (the type carries it).
    schema: SchemaState,
    /// Last run of each scheduled job since start.
    jobs: BTreeMap<String, JobStatus>,
}

/// The schema being served, and the last reload that failed.
#[derive(Object)]
struct SchemaState {
    /// 1 for the schema loaded at start, one more for each successful reload.
    generation: u64,
    /// When this generation started serving (RFC 3339).
    loaded_at: String,
    /// Tables it declares.
    tables: u64,
    // Absent unless a reload failed and no later one succeeded (the type says more).
    #[oai(skip_serializing_if_is_none)]
    last_failed_reload: Option<FailedReloadState>,
}

/// The last reload that failed, while no later one has succeeded: the previous generation
/// keeps serving meanwhile. Absent otherwise.
#[derive(Object)]
struct FailedReloadState {
    /// When it failed (RFC 3339).
    at: String,
    /// The first file the errors name, when they name one.
    #[oai(skip_serializing_if_is_none)]
    file: Option<String>,
    /// The errors, one per line.
    error: String,
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
    /// Liveness: the process is up, which schema generation serves, and the jobs' last runs.
    ///
    /// A failed reload shows in `schema.last_failed_reload` until a later reload succeeds; the
    /// previous schema keeps serving, so `/ready` stays ready.
    #[oai(path = "/health", method = "get")]
    async fn health(&self, state: Data<&Arc<AppState>>) -> Json<Health> {
        let served = state.current.load();
        Json(Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            schema: SchemaState {
                generation: served.generation,
                loaded_at: served
                    .loaded_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                tables: served.schema.tables.len() as u64,
                last_failed_reload: state
                    .reloads
                    .last_failure()
                    .map(|failure| FailedReloadState {
                        at: failure.at,
                        file: failure.file,
                        error: failure.error,
                    }),
            },
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
