//! syncgate: a sync gateway for offline-first applications, configured by a declarative schema.
//!
//! # Layers
//!
//! Each module below is one layer; a layer imports only the layers under it, never one above
//! (`tests/layers.rs` fails on an import that points up or on files importing each other in a
//! circle):
//!
//! ```text
//! cli ─▶ check, logging ─▶ server ─▶ api ─▶ jobs ─▶ files, upstream ─▶ sync ─▶ plugins, auth
//!     ─▶ store ─▶ schema, config          (ops, suggest, key_positions: helpers, usable anywhere)
//! ```
//!
//! - [`cli`], [`check`], [`logging`]: the command line, `syncgate check` (which also loads the
//!   config for every command: [`check::load_config`]), and the log subscriber.
//! - [`server`]: start-up and shutdown, the routes around the API (request log with its id,
//!   CORS, body limit, `/metrics`, `/status`, `/docs`), and schema reloads.
//! - [`api`]: the HTTP endpoints (poem-openapi), the per-table endpoints and document built from
//!   the schema, the one error body, and [`api::AppState`], what every handler shares. A handler
//!   parses, authenticates, calls one function of the sync core, and maps its answer.
//! - [`jobs`]: the scheduler and each scheduled job, one file each (maintenance, files, drain,
//!   snapshot), working on a [`jobs::JobContext`].
//! - [`files`] (uploads, attachments, storage) and [`upstream`] (an edge's hub: client, drain,
//!   snapshot).
//! - [`sync`]: the core. `sync::write` is the one write pipeline every write goes through (push,
//!   conflict resolution, snapshot rows, attachments); it wakes the read side when it commits.
//!   `sync::feed` is the read side: a reader's view, the changes feed and its long-poll, pull,
//!   live streams, the reads they share and the watch that wakes them. Also the caller's access
//!   and scope (`sync::access`), the conflict queue, devices and their status.
//! - [`plugins`] (Rhai hooks and webhooks) and [`auth`] (tokens and the caller).
//! - [`store`]: everything SQL — connections, migrations, the schema's tables, rows and the
//!   filter a row scope becomes ([`store::RowScope`]), the feed counter and the announcements of
//!   other replicas' commits, the system tables.
//! - [`schema`] (the declarative model, loading, validation, JSON Schema) and [`config`] (figment
//!   layers and every check of a config value that needs nothing above it).
//! - [`ops`]: metric names and the guards that count open streams; [`suggest`]: "did you mean";
//!   [`key_positions`]: the line and column of a key in a TOML or JSON file, for error messages.
//! - [`trace_export`]: OpenTelemetry traces over OTLP (beside `store`: it reads only `config`),
//!   installed by `logging`, continued from a request's `traceparent` by the server.
//!
//! # Where a change goes
//!
//! - **A new column type**: `schema/model.rs` (`ColumnType`), `schema/values.rs` (checking and
//!   normalising a value) and `schema/validate.rs` (what may be declared with it),
//!   `store/ddl.rs` (its SQL type on each backend), `store/rows.rs` (`column_value`, reading it
//!   back) and `store/row_json.rs` (its JSON in feed pages), `api/row_doc.rs`
//!   (`column_schema`, its OpenAPI schema) and `api/tables_doc.rs` (its example value); then
//!   `schemas/sync-schema.json` (`syncgate json-schema`) and the all-types fixture
//!   `scripts/fixtures/all_types.toml`.
//! - **A new endpoint**: the handler in the `api/*_api.rs` file of its area (or a new one, added
//!   to the service in `api/mod.rs`), its documented shapes in `api/sync_doc.rs`, the work in
//!   one function of `sync` (or `files`, `upstream`), its errors as a `SyncError` variant (with its
//!   `code`) mapped once to HTTP in `api/error.rs`; then `openapi/openapi.json` (`syncgate openapi`) and the README.
//! - **A new job**: a file in `jobs/` with a `job(context, config)` function, listed in
//!   `jobs::all`; its schedule key in `config/mod.rs` (`JobsConfig`), `config.toml` and the
//!   README.

pub mod api;
pub mod auth;
pub mod check;
pub mod cli;
pub mod config;
pub mod files;
pub mod jobs;
pub mod key_positions;
pub mod logging;
pub mod ops;
pub mod plugins;
pub mod schema;
pub mod server;
pub mod store;
pub mod suggest;
pub mod sync;
pub mod trace_export;
pub mod upstream;
