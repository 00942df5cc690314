//! The edge's outbox, its link to the hub, and snapshots (seed 000).

use super::bearer::BearerAuth;
use super::error::ApiError;
use super::strict_json::StrictJson;
use crate::api::AppState;
use crate::auth::Caller;
use crate::store::outbox::{self, Entry};
use crate::sync::devices::sees_all_devices;
use crate::upstream::{Upstream, snapshot};
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Tags)]
enum EdgeTag {
    /// The outbox of writes waiting for the hub, the hub's reachability, and snapshots (edges).
    Edge,
}

pub struct UpstreamApi;

/// Outbox counts (seed 000's `sync-pendientes`).
#[derive(Object)]
struct PendingCounts {
    /// Writes not yet pushed to the hub.
    pending: i64,
    synced: i64,
    /// Failed after the last retry; re-queue with `POST /sync/log/retry`.
    error: i64,
    /// The hub kept its own row.
    conflict: i64,
    /// Whether the hub is reachable now.
    online: bool,
    /// The caller's branch (absent without one).
    #[oai(skip_serializing_if_is_none)]
    branch: Option<String>,
}

#[derive(Object)]
struct LogEntry {
    id: i64,
    op_id: String,
    table: String,
    key: Value,
    /// `upsert` or `delete`.
    action: String,
    /// `PENDING`, `SYNCED`, `ERROR` or `CONFLICT`.
    status: String,
    attempts: i64,
    #[oai(skip_serializing_if_is_none)]
    last_error: Option<String>,
    created_at: String,
    #[oai(skip_serializing_if_is_none)]
    synced_at: Option<String>,
    device_id: String,
    user: String,
}

#[derive(Object)]
struct LogPage {
    entries: Vec<LogEntry>,
}

#[derive(Object)]
struct RetryRequest {
    /// The ERROR entries to re-queue; all of the caller's ERROR entries when absent.
    ids: Option<Vec<i64>>,
}

#[derive(Object)]
struct RetryAnswer {
    requeued: u64,
}

#[derive(Object)]
struct UpstreamStatus {
    /// Whether this gateway is an edge (has an `[upstream]`).
    configured: bool,
    online: bool,
    /// The hub's URL (absent on a hub).
    #[oai(skip_serializing_if_is_none)]
    url: Option<String>,
    /// When the hub was last checked (absent before the first check).
    #[oai(skip_serializing_if_is_none)]
    last_check: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    last_error: Option<String>,
}

#[derive(Object)]
struct SnapshotAnswer {
    success: bool,
    /// Rows written per table.
    counts: BTreeMap<String, u64>,
    /// Rows kept as they are because they have writes not yet pushed to the hub.
    kept_local: u64,
    snapshot_at: String,
}

#[derive(Object)]
struct SnapshotStatus {
    online: bool,
    #[oai(skip_serializing_if_is_none)]
    branch: Option<String>,
    /// When the last snapshot completed (absent before the first).
    #[oai(skip_serializing_if_is_none)]
    last_snapshot: Option<String>,
}

use crate::schema::values::format_millis as rfc3339;

/// Whose outbox entries the caller sees: everyone's for a role scoped to `all`, else its own.
fn subject_filter<'a>(state: &AppState, caller: &'a Caller) -> Option<&'a str> {
    (!sees_all_devices(&state.schema(), caller)).then_some(caller.subject.as_str())
}

fn edge(state: &AppState) -> Result<&Upstream, ApiError> {
    state.upstream.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_an_edge",
            "this gateway has no `[upstream]`: it is a hub, and has no snapshots",
        )
    })
}

impl From<Entry> for LogEntry {
    fn from(entry: Entry) -> Self {
        Self {
            id: entry.id,
            op_id: entry.op_id,
            table: entry.table,
            key: entry.key,
            action: entry.action.as_str().into(),
            status: entry.status,
            attempts: entry.attempts,
            last_error: entry.last_error,
            created_at: rfc3339(entry.created_at),
            synced_at: entry.synced_at.map(rfc3339),
            device_id: entry.device_id,
            user: entry.subject,
        }
    }
}

#[OpenApi(tag = "EdgeTag::Edge")]
impl UpstreamApi {
    /// Outbox counts by status.
    ///
    /// A role scoped to `all` counts every entry; other roles their own.
    #[oai(path = "/sync/pending", method = "get", operation_id = "pendingCounts")]
    async fn pending(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
    ) -> Result<Json<PendingCounts>, ApiError> {
        let counts = outbox::counts(&state.db, subject_filter(&state, &auth.0))
            .await
            .map_err(ApiError::from)?;
        let count = |status: &str| {
            counts
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n)
        };
        Ok(Json(PendingCounts {
            pending: count(outbox::PENDING),
            synced: count(outbox::SYNCED),
            error: count(outbox::ERROR),
            conflict: count(outbox::CONFLICT),
            online: state
                .upstream
                .as_ref()
                .is_some_and(|u| u.connectivity.online()),
            branch: auth.0.branch_text(),
        }))
    }

    /// Outbox entries, newest first, with their errors.
    #[oai(path = "/sync/log", method = "get", operation_id = "outboxLog")]
    async fn log(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// Only entries with this status: PENDING, SYNCED, ERROR or CONFLICT (or in lower case).
        #[oai(validator(
            pattern = "^(PENDING|SYNCED|ERROR|CONFLICT|pending|synced|error|conflict)$"
        ))]
        status: Query<Option<String>>,
        /// Entries per page: default 100; a larger value than 1000 is capped at 1000.
        #[oai(validator(minimum(value = "1")))]
        limit: Query<Option<u64>>,
    ) -> Result<Json<LogPage>, ApiError> {
        let status = status.0.map(|s| s.to_uppercase());
        if let Some(status) = &status
            && ![
                outbox::PENDING,
                outbox::SYNCED,
                outbox::ERROR,
                outbox::CONFLICT,
            ]
            .contains(&status.as_str())
        {
            return Err(ApiError::bad_request(
                "status",
                format!("`{status}` is not a status; use PENDING, SYNCED, ERROR or CONFLICT"),
            ));
        }
        let limit = limit.0.unwrap_or(100).clamp(1, 1000);
        let entries = outbox::list(
            &state.db,
            subject_filter(&state, &auth.0),
            status.as_deref(),
            limit,
        )
        .await
        .map_err(ApiError::from)?;
        Ok(Json(LogPage {
            entries: entries.into_iter().map(LogEntry::from).collect(),
        }))
    }

    /// Re-queue ERROR entries.
    ///
    /// The given ids, or all the caller's ERROR entries, go back to PENDING with their tries
    /// reset; the next drain pushes them.
    #[oai(
        path = "/sync/log/retry",
        method = "post",
        operation_id = "retryOutbox"
    )]
    async fn retry(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: StrictJson<RetryRequest>,
    ) -> Result<Json<RetryAnswer>, ApiError> {
        let now = chrono::Utc::now().timestamp_millis();
        let requeued = outbox::requeue(
            &state.db,
            subject_filter(&state, &auth.0),
            body.0.ids.as_deref(),
            now,
        )
        .await
        .map_err(ApiError::from)?;
        Ok(Json(RetryAnswer { requeued }))
    }

    /// Whether the hub is reachable (from a periodic check, not a call per request).
    #[oai(
        path = "/sync/upstream/status",
        method = "get",
        operation_id = "upstreamStatus"
    )]
    async fn upstream_status(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: BearerAuth,
    ) -> Result<Json<UpstreamStatus>, ApiError> {
        let probe = state
            .upstream
            .as_ref()
            .map(|u| u.connectivity.state())
            .unwrap_or_default();
        Ok(Json(UpstreamStatus {
            configured: state.upstream.is_some(),
            online: probe.online,
            url: state
                .config
                .upstream
                .as_ref()
                .map(|u| crate::config::redact_url(u.url.as_str())),
            last_check: probe.last_check.map(rfc3339),
            last_error: probe.last_error,
        }))
    }

    /// Refresh the caller's branch from the hub.
    ///
    /// Pulls the hub's rows of the caller's branch (the hub's changes feed with `branch=`, as
    /// the edge's upstream token may read them): `full=true` every row, otherwise what changed
    /// since the last snapshot of this branch. Each branch keeps its own progress. 400 when the
    /// caller has no branch; 503 when the hub cannot be reached; 502 `hub_refused` when the hub
    /// refuses (an edge whose upstream token reads another branch only).
    #[oai(path = "/sync/snapshot", method = "post", operation_id = "snapshot")]
    async fn snapshot(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// Full bootstrap (default false: incremental).
        full: Query<Option<bool>>,
    ) -> Result<Json<SnapshotAnswer>, ApiError> {
        let Some(branch) = auth.0.branch_text() else {
            return Err(ApiError::bad_request(
                "branch",
                "your token has no branch: a snapshot refreshes a branch",
            ));
        };
        let upstream = edge(&state)?;
        let schema = state.schema();
        let report = snapshot::snapshot(
            &state.db,
            &state.feed,
            &schema,
            upstream,
            full.0.unwrap_or(false),
            Some(&branch),
        )
        .await?;
        Ok(Json(SnapshotAnswer {
            success: true,
            counts: report.counts,
            kept_local: report.kept_local,
            snapshot_at: rfc3339(report.snapshot_at),
        }))
    }

    /// When the caller's branch was last refreshed, with the hub's reachability.
    ///
    /// `last_snapshot` is the later of the branch's own snapshot (`POST /sync/snapshot`) and
    /// the edge-wide one (the snapshot job's, which brings every branch the edge may read).
    #[oai(
        path = "/sync/snapshot/status",
        method = "get",
        operation_id = "snapshotStatus"
    )]
    async fn snapshot_status(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
    ) -> Result<Json<SnapshotStatus>, ApiError> {
        let Some(branch) = auth.0.branch_text() else {
            return Err(ApiError::bad_request(
                "branch",
                "your token has no branch: snapshots are kept per branch",
            ));
        };
        // The branch's own snapshot, or the edge-wide one (the job's) when later: it brought
        // the branch's rows too.
        let mut last = None;
        for key in [
            snapshot::branch_key(&branch).as_str(),
            snapshot::SNAPSHOT_KEY,
        ] {
            let found = crate::store::snapshots::get(&state.db, key)
                .await
                .map_err(ApiError::from)?;
            last = last.max(found.map(|(_, at)| at));
        }
        Ok(Json(SnapshotStatus {
            online: state
                .upstream
                .as_ref()
                .is_some_and(|u| u.connectivity.online()),
            branch: auth.0.branch_text(),
            last_snapshot: last.map(rfc3339),
        }))
    }
}
