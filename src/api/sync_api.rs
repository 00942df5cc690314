//! The fixed sync endpoints: push, changes, pull, and the manual conflict queue. Handlers
//! parse, authorise, call one function of the sync core, and map the result.

use super::bearer::BearerAuth;
use super::error::ApiError;
use super::push_body::PushBody;
use super::reads::{PULL_LIMIT, clamp_limit, run_changes, split_tables};
use super::serde_payload::{EncodedJson, JsonAnswer, JsonBody};
use super::stream_api::{self, ChangeEvents};
use super::strict_json::StrictJson;
use super::sync_doc::{
    ChangesPageDoc, ConflictListDoc, PullResponseDoc, PushOutcomeDoc, PushRequestDoc,
    ResolvedConflictDoc,
};
use super::writes::{run_push, write_options};
use crate::api::AppState;
use crate::sync::conflicts::{self, ConflictView, Resolution, ResolvedConflict};
use crate::sync::feed::parse_cursor;
use crate::sync::narrowed_to_branch;
use crate::sync::types::PushOutcome;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::{Enum, Object, OpenApi, Tags};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

#[derive(Tags)]
enum SyncTag {
    /// Push changes, read the changes feed, pull tables, resolve conflicts.
    Sync,
}

pub struct SyncApi;

/// Which rows to pull.
#[derive(Object)]
struct PullRequest {
    /// Tables to pull; all readable tables when absent.
    tables: Option<Vec<String>>,
    /// Rows per page: default 1000; a larger value than 5000 is capped at 5000.
    #[oai(validator(minimum(value = "1")))]
    limit: Option<u64>,
    /// Continue after this cursor (from the previous page).
    cursor: Option<String>,
}

/// A page of a pull; the document calls it `PullResponse`.
#[derive(Serialize)]
struct PullAnswer {
    success: bool,
    data: BTreeMap<String, Vec<Box<serde_json::value::RawValue>>>,
    removed: BTreeMap<String, Vec<Box<serde_json::value::RawValue>>>,
    limit: u64,
    cursor: String,
    has_more: bool,
}

/// The open conflicts; the document calls it `ConflictList`.
#[derive(Serialize)]
struct ConflictListAnswer {
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
    /// Required with `merged`: the columns to change over the server's row.
    data: Option<HashMap<String, Value>>,
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
        body: JsonBody<PushBody, PushRequestDoc>,
    ) -> Result<JsonAnswer<PushOutcome, PushOutcomeDoc>, ApiError> {
        let (device_id, atomic, operations) = body.0.into_batch(None)?;
        run_push(&state, &auth.0, device_id, atomic, operations)
            .await
            .map(JsonAnswer::new)
    }

    /// Read the changes feed.
    ///
    /// The current state (or tombstone) of every row changed after `cursor` that the caller may
    /// read, in order. Each row appears once however often it changed. With `wait`, the request
    /// is held until a visible change commits or `wait` seconds pass; a device token revoked
    /// meanwhile (on any replica) ends it within a second with 401.
    #[oai(path = "/sync/changes", method = "get", operation_id = "changes")]
    // poem-openapi takes each query parameter as its own argument.
    #[allow(clippy::too_many_arguments)]
    async fn changes(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// Continue after this cursor; absent or empty starts from the beginning.
        cursor: Query<Option<String>>,
        /// Changes per page: default 100; a larger value than 1000 is capped at 1000.
        #[oai(validator(minimum(value = "1")))]
        limit: Query<Option<u64>>,
        /// Comma-separated tables; all readable tables when absent.
        tables: Query<Option<String>>,
        /// Seconds to wait for a change when there is none (at most 60).
        wait: Query<Option<u64>>,
        /// Read only the rows of this branch, as a role scoped `branch` with this `branch`
        /// claim would: rows whose `branch_column` holds it, shared tables, and rows scoped
        /// through such parents. For roles scoped `all` (an edge serving several branches takes
        /// one snapshot per branch with it); a role scoped `branch` may name its own branch only
        /// (another: 403), other scopes cannot be narrowed (422). Cursors are kept per view: a
        /// cursor read with another `branch` answers 409 `resync_required`.
        branch: Query<Option<String>>,
    ) -> Result<EncodedJson<ChangesPageDoc>, ApiError> {
        let caller = match branch.0.as_deref() {
            Some(branch) => narrowed_to_branch(&state.schema(), &auth.0, branch)?,
            None => auth.0,
        };
        run_changes(
            &state,
            &caller,
            cursor.0.as_deref(),
            limit.0,
            split_tables(tables.0),
            wait.0,
        )
        .await
        .map(|answer| EncodedJson::new(answer.json))
    }

    /// Live stream of changes.
    ///
    /// Server-sent events (`text/event-stream`) for clients that keep a connection open: first
    /// every change after `cursor` the caller may read, then each new one as it commits. Each
    /// event is `event: change` with one change as JSON in `data` (the same body as an entry of
    /// the changes feed) and its `seq` as the event `id`. A comment line (`:`) is sent every
    /// `sync.stream_heartbeat` (default 15 s) so that proxies keep the connection. A client
    /// that reconnects with `Last-Event-ID` (or `cursor`) set to the last `id` it received
    /// resumes with nothing skipped and nothing repeated. Same scoping as the changes feed. The
    /// stream ends when the bearer JWT or device token expires, or within a second of the
    /// device token's revocation (its device deleted, its token regenerated or refreshed, or
    /// every token of its user revoked) on any replica.
    #[oai(path = "/sync/stream", method = "get", operation_id = "stream")]
    async fn stream(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        request: &poem::Request,
        /// Start after this change (`seq`); absent or empty starts from the beginning.
        cursor: Query<Option<String>>,
        /// Comma-separated tables; all readable tables when absent.
        tables: Query<Option<String>>,
        /// The `id` of the last event received; wins over `cursor`.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<String>>,
    ) -> Result<ChangeEvents, ApiError> {
        // A `Last-Event-ID` that is not text is refused, not taken for an absent one.
        if let Some(value) = request.headers().get("last-event-id")
            && value.to_str().is_err()
        {
            return Err(crate::sync::SyncError::invalid(
                "cursor",
                "`Last-Event-ID` is not a cursor returned by this gateway",
            )
            .into());
        }
        stream_api::open(
            &state,
            &auth.0,
            cursor.0.as_deref(),
            last_event_id.0.as_deref(),
            split_tables(tables.0),
        )
        .await
    }

    /// Pull rows by table.
    ///
    /// The live rows of the requested tables in the caller's scope, a page at a time.
    #[oai(path = "/sync/pull", method = "post", operation_id = "pull")]
    async fn pull(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: StrictJson<PullRequest>,
    ) -> Result<JsonAnswer<PullAnswer, PullResponseDoc>, ApiError> {
        let limit = clamp_limit(body.limit, PULL_LIMIT)?;
        let cursor = parse_cursor(body.cursor.as_deref())?;
        let schema = state.schema();
        let page = state
            .feed
            .pull(&state.db, &schema, &auth.0, body.0.tables, &cursor, limit)
            .await?;
        Ok(JsonAnswer::new(PullAnswer {
            success: true,
            data: page.data.into_iter().collect(),
            removed: page.removed.into_iter().collect(),
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
    ) -> Result<JsonAnswer<ConflictListAnswer, ConflictListDoc>, ApiError> {
        let schema = state.schema();
        let conflicts = conflicts::list(&state.db, &schema, &auth.0).await?;
        Ok(JsonAnswer::new(ConflictListAnswer { conflicts }))
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
        body: StrictJson<ResolveRequest>,
    ) -> Result<JsonAnswer<ResolvedConflict, ResolvedConflictDoc>, ApiError> {
        let resolution = match (body.0.resolution, body.0.data) {
            (ResolutionChoice::UseLocal, _) => Resolution::UseLocal,
            (ResolutionChoice::UseServer, _) => Resolution::UseServer,
            (ResolutionChoice::Merged, Some(data)) => {
                Resolution::Merged(data.into_iter().collect())
            }
            (ResolutionChoice::Merged, None) => {
                return Err(crate::sync::SyncError::invalid(
                    "data",
                    "`merged` needs the row's columns in `data`",
                )
                .into());
            }
        };
        let schema = state.schema();
        let plugins = state.plugins();
        let options = write_options(&state, &auth.0);
        let resolved = conflicts::resolve(
            &state.db, &schema, &plugins, &auth.0, id.0, resolution, options,
        )
        .await?;
        Ok(JsonAnswer::new(resolved))
    }
}
