//! The fixed sync endpoints: push, changes, pull, and the manual conflict queue. Handlers
//! parse, authorise, call one function of the sync core, and map the result.

use super::bearer::BearerAuth;
use super::error::ApiError;
use super::writes::{run_push, write_options};
use crate::server::AppState;
use crate::sync::SyncError;
use crate::sync::changes::{self, FeedQuery, parse_cursor};
use crate::sync::conflicts::{self, ConflictView, Resolution, ResolvedConflict};
use crate::sync::pull::pull;
use crate::sync::types::{Action, ChangesPage, Operation, PushOutcome, Resolve, RowObject};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Tags};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Default and largest page of the changes feed.
pub const CHANGES_LIMIT: (u64, u64) = (100, 1000);
/// Default and largest page of a pull (seed 002).
pub const PULL_LIMIT: (u64, u64) = (1000, 5000);

#[derive(Tags)]
enum SyncTag {
    /// Push changes, read the changes feed, pull tables, resolve conflicts.
    Sync,
}

pub struct SyncApi;

/// A batch of changes from one device.
#[derive(Object)]
pub(crate) struct PushRequest {
    /// The device sending the batch; replayed `op_id`s are recognised per device.
    device_id: String,
    /// `true` (default): the whole batch commits in one transaction or not at all, and the
    /// first failing operation is answered with an error naming it. `false`: each operation
    /// stands alone and failures are listed in `errors`.
    #[oai(default = "default_true")]
    atomic: bool,
    operations: Vec<PushOperation>,
}

fn default_true() -> bool {
    true
}

/// One change to one row.
#[derive(Object)]
pub(crate) struct PushOperation {
    /// Client-chosen id; a replay with the same id returns the first result and writes nothing.
    op_id: Option<String>,
    table: String,
    action: Action,
    /// The row's columns (its primary key always; for `update`, the columns that change). A
    /// `_version` here is taken as `base_version`.
    #[oai(default)]
    data: HashMap<String, Value>,
    /// The row version the change is based on; older than the server's is a conflict.
    base_version: Option<i64>,
    /// `use_local` applies the client's row even if it conflicts.
    resolve: Option<Resolve>,
}

/// Which rows to pull.
#[derive(Object)]
struct PullRequest {
    /// Tables to pull; all readable tables when absent.
    tables: Option<Vec<String>>,
    /// Rows per page: default 1000, at most 5000.
    limit: Option<u64>,
    /// Continue after this cursor (from the previous page).
    cursor: Option<String>,
}

#[derive(Object)]
struct PullResponse {
    success: bool,
    /// Rows by table.
    data: BTreeMap<String, Vec<RowObject>>,
    limit: u64,
    /// Pass it as `cursor` for the next page.
    cursor: String,
    has_more: bool,
}

#[derive(Object)]
struct ConflictList {
    conflicts: Vec<ConflictView>,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
enum ResolutionChoice {
    /// Apply the client's row from the conflict.
    UseLocal,
    /// Keep the server's row.
    UseServer,
    /// Apply `data` (columns to change) over the server's row.
    Merged,
}

#[derive(Object)]
struct ResolveRequest {
    resolution: ResolutionChoice,
    /// Required with `merged`.
    data: Option<HashMap<String, Value>>,
}

/// Reads one page of the changes feed; shared with the per-table endpoint.
pub async fn run_changes(
    state: &AppState,
    caller: &crate::auth::Caller,
    cursor: Option<&str>,
    limit: Option<u64>,
    tables: Option<Vec<String>>,
    wait: Option<u64>,
) -> Result<ChangesPage, ApiError> {
    let query = FeedQuery {
        cursor: parse_cursor(cursor)?,
        limit: clamp_limit(limit, CHANGES_LIMIT)?,
        tables,
        include_deleted: true,
    };
    let wait = Duration::from_secs(wait.unwrap_or(0)).min(state.config.sync.max_wait);
    let schema = state.schema();
    Ok(changes::changes(&state.db, &schema, caller, &query, wait, &state.feed).await?)
}

fn clamp_limit(limit: Option<u64>, (default, max): (u64, u64)) -> Result<u64, ApiError> {
    match limit {
        None => Ok(default),
        Some(0) => Err(ApiError::bad_request("limit", "`limit` must be at least 1")),
        Some(limit) => Ok(limit.min(max)),
    }
}

pub fn split_tables(tables: Option<String>) -> Option<Vec<String>> {
    tables.map(|list| {
        list.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect()
    })
}

#[OpenApi(tag = "SyncTag::Sync")]
impl SyncApi {
    /// Push a batch of changes.
    ///
    /// Every value is checked against its column; every row against the caller's permissions
    /// and scope; every update against the row's version (or `updated_at`) and the table's
    /// conflict strategy. Each applied write returns the row's new version.
    #[oai(path = "/sync/push", method = "post", operation_id = "push")]
    async fn push(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: Json<PushRequest>,
    ) -> Result<Json<PushOutcome>, ApiError> {
        let body = body.0;
        let operations = body
            .operations
            .into_iter()
            .map(|op| Operation {
                op_id: op.op_id,
                table: op.table,
                action: op.action,
                data: op.data.into_iter().collect(),
                base_version: op.base_version,
                resolve: op.resolve,
            })
            .collect();
        run_push(&state, &auth.0, body.device_id, body.atomic, operations)
            .await
            .map(Json)
    }

    /// Read the changes feed.
    ///
    /// The current state (or tombstone) of every row changed after `cursor` that the caller may
    /// read, in order. Each row appears once however often it changed. With `wait`, the request
    /// is held until a visible change commits or `wait` seconds pass.
    #[oai(path = "/sync/changes", method = "get", operation_id = "changes")]
    async fn changes(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// Continue after this cursor; absent or empty starts from the beginning.
        cursor: Query<Option<String>>,
        /// Changes per page: default 100, at most 1000.
        limit: Query<Option<u64>>,
        /// Comma-separated tables; all readable tables when absent.
        tables: Query<Option<String>>,
        /// Seconds to wait for a change when there is none (at most 60).
        wait: Query<Option<u64>>,
    ) -> Result<Json<ChangesPage>, ApiError> {
        run_changes(
            &state,
            &auth.0,
            cursor.0.as_deref(),
            limit.0,
            split_tables(tables.0),
            wait.0,
        )
        .await
        .map(Json)
    }

    /// Pull rows by table.
    ///
    /// The live rows of the requested tables in the caller's scope, a page at a time.
    #[oai(path = "/sync/pull", method = "post", operation_id = "pull")]
    async fn pull(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: Json<PullRequest>,
    ) -> Result<Json<PullResponse>, ApiError> {
        let limit = clamp_limit(body.limit, PULL_LIMIT)?;
        let cursor = parse_cursor(body.cursor.as_deref())?;
        let schema = state.schema();
        let page = pull(&state.db, &schema, &auth.0, body.0.tables, cursor, limit).await?;
        Ok(Json(PullResponse {
            success: true,
            data: page
                .data
                .into_iter()
                .map(|(table, rows)| (table, rows.into_iter().map(RowObject).collect()))
                .collect(),
            limit,
            cursor: page.cursor,
            has_more: page.has_more,
        }))
    }

    /// List open conflicts.
    ///
    /// Conflicts of `manual` tables on rows the caller may read, oldest first.
    #[oai(
        path = "/sync/conflicts",
        method = "get",
        operation_id = "listConflicts"
    )]
    async fn conflicts(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
    ) -> Result<Json<ConflictList>, ApiError> {
        let schema = state.schema();
        let conflicts = conflicts::list(&state.db, &schema, &auth.0).await?;
        Ok(Json(ConflictList { conflicts }))
    }

    /// Resolve a conflict.
    ///
    /// Applies the chosen row as a new version of the row (it appears in the changes feed).
    #[oai(
        path = "/sync/conflicts/:id/resolve",
        method = "post",
        operation_id = "resolveConflict"
    )]
    async fn resolve(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<i64>,
        body: Json<ResolveRequest>,
    ) -> Result<Json<ResolvedConflict>, ApiError> {
        let resolution = match (body.0.resolution, body.0.data) {
            (ResolutionChoice::UseLocal, _) => Resolution::UseLocal,
            (ResolutionChoice::UseServer, _) => Resolution::UseServer,
            (ResolutionChoice::Merged, Some(data)) => {
                Resolution::Merged(data.into_iter().collect())
            }
            (ResolutionChoice::Merged, None) => {
                return Err(SyncError::invalid(
                    "data",
                    "`merged` needs the row's columns in `data`",
                )
                .into());
            }
        };
        let schema = state.schema();
        let plugins = state.plugins();
        let options = write_options(&state, &auth.0);
        let (resolved, position) = conflicts::resolve(
            &state.db, &schema, &plugins, &auth.0, id.0, resolution, options,
        )
        .await?;
        state.feed.advance(position);
        Ok(Json(resolved))
    }
}
