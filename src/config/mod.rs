//! The gateway's configuration: what ops put in `config.toml` and `SYNCGATE_*` variables.
//!
//! Layers, lowest first: built-in defaults (the `Default` impls here) < the config file <
//! `SYNCGATE_*` environment variables, `__` separating nested keys (`SYNCGATE_DATABASE__URL`).
//! Every key is documented in the shipped `config.toml`.

mod cors;
mod database_url;
mod load;
mod metrics;
mod schedule;
mod secret;
mod validate;

pub use cors::{CorsConfig, check_origin};
pub use database_url::sqlite_path;
pub use load::{ConfigError, load, read};
pub use metrics::MetricsConfig;
pub use schedule::parse_schedule;
pub use secret::{Secret, redact_url};
pub use validate::problems;

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub paths: PathsConfig,
    pub log: LogConfig,
    pub auth: AuthConfig,
    pub sync: SyncConfig,
    pub devices: DevicesConfig,
    pub plugins: PluginsConfig,
    /// Present on an edge: the hub it syncs with. Absent on a hub.
    pub upstream: Option<UpstreamConfig>,
    pub files: FilesConfig,
    pub jobs: JobsConfig,
    pub metrics: MetricsConfig,
    pub tracing: TracingConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Prefix of the sync API paths; empty serves them at the root.
    pub api_prefix: String,
    /// Largest request body accepted, in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// How long a shutdown waits for in-flight requests.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Cross-origin (browser) access to the API.
    pub cors: CorsConfig,
    /// Extra paths for endpoints the gateway serves, so that clients of an older API keep
    /// working; documented as deprecated.
    pub aliases: Vec<AliasConfig>,
}

/// The highest `sync.key_node`: 8192 ranges of 2^40 server-assigned keys end at 2^53, the
/// largest integer a JavaScript number holds exactly (see `sync::keys`).
pub const MAX_KEY_NODE: u16 = 8191;

/// One `[[server.aliases]]` entry: requests to `path` are served by the endpoint at `to`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasConfig {
    /// The old path, e.g. `/sync`, `/old/devices/{id}` (a `{name}` segment matches any
    /// segment), or a prefix ending in `/*`, e.g. `/api/sync/*`.
    pub path: String,
    /// The path the gateway serves, with the API prefix, e.g. `/sync/push`; a prefix ending in
    /// `/*` when `path` is one. `{name}` segments take the value of the same name in `path`.
    pub to: String,
    /// The methods the alias answers (default: every method `to` serves).
    #[serde(default)]
    pub methods: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            api_prefix: "/api/v1".into(),
            max_body_bytes: 10 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(30),
            cors: CorsConfig::default(),
            aliases: Vec::new(),
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (relative paths are relative to the config file) or `postgres://…`.
    pub url: String,
    pub max_connections: u32,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/syncgate.db".into(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

// The URL may carry a password: print it redacted.
impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathsConfig {
    /// Directory of the sync schema files (`*.toml`, `*.json`).
    pub schemas: PathBuf,
    /// Directory of the hook plugins (`NAME.rhai`).
    pub plugins: PathBuf,
}

impl Default for PathsConfig {
    fn default() -> Self {
        Self {
            schemas: "schemas".into(),
            plugins: "plugins".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter such as `info` or `syncgate=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// OpenTelemetry traces, exported over OTLP/HTTP (protobuf); off unless `endpoint` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// The collector's OTLP/HTTP base URL, e.g. `http://127.0.0.1:4318` (spans go to
    /// `{endpoint}/v1/traces`; a URL already ending in `/v1/traces` is used as it is).
    pub endpoint: Option<String>,
    /// The `service.name` resource attribute of every span.
    pub service_name: String,
    /// Which spans are exported, as a tracing filter: `info` exports requests, push stages,
    /// feed reads, jobs and webhook calls; `debug` adds each push operation's scope, hooks and
    /// conflict spans.
    pub level: String,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            service_name: "syncgate".into(),
            level: "syncgate=info".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    pub maintenance: MaintenanceJobConfig,
    pub drain: DrainJobConfig,
    pub snapshot: SnapshotJobConfig,
    pub files: FilesJobConfig,
}

/// Removing unreferenced files and expired upload sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesJobConfig {
    /// Six-field cron; empty disables the job.
    pub schedule: String,
}

impl Default for FilesJobConfig {
    fn default() -> Self {
        Self {
            schedule: "0 */10 * * * *".into(),
        }
    }
}

/// Pushing the outbox to the hub (edges only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrainJobConfig {
    /// Six-field cron; empty disables the job.
    pub schedule: String,
    /// Outbox entries pushed per request.
    pub batch_size: u32,
    /// Tries of an entry before it is marked ERROR.
    pub max_retries: u32,
    /// How long a gateway holds the entries it is sending; a replica that dies while sending
    /// frees them when this runs out.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
}

impl Default for DrainJobConfig {
    fn default() -> Self {
        Self {
            schedule: "*/30 * * * * *".into(),
            batch_size: 50,
            max_retries: 5,
            lease: Duration::from_secs(60),
        }
    }
}

/// Refreshing the edge's rows from the hub (edges only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotJobConfig {
    /// Six-field cron; empty disables the job.
    pub schedule: String,
}

impl Default for SnapshotJobConfig {
    fn default() -> Self {
        Self {
            schedule: "0 */5 * * * *".into(),
        }
    }
}

/// Database housekeeping: SQLite `PRAGMA optimize` and a WAL checkpoint that truncates the
/// write-ahead log; PostgreSQL `ANALYZE` of the synced tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceJobConfig {
    /// Six-field cron (`sec min hour day month weekday`), UTC; empty disables the job.
    pub schedule: String,
}

impl Default for MaintenanceJobConfig {
    fn default() -> Self {
        Self {
            schedule: "0 17 3 * * *".into(),
        }
    }
}

/// The problem of an `[auth]` section with neither key.
pub const NO_AUTH_KEY: &str = "section `auth`: no key to verify tokens with; set `auth.jwt_secret` \
     (HS256) or `auth.jwt_public_key` (RS256/ES256)";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Shared secret of HS256 tokens.
    pub jwt_secret: Option<Secret>,
    /// PEM file of the public key of RS256 or ES256 tokens.
    pub jwt_public_key: Option<PathBuf>,
    /// Algorithm of `jwt_public_key`.
    pub jwt_public_key_algorithm: KeyAlgorithm,
    /// Lifetime of tokens minted by `syncgate token` unless `--ttl` is given.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// Clock skew tolerated when checking `exp`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// The role of requests that send no `Authorization` header, for tables meant to be public
    /// (a role the schema declares). Unset (the default), such requests answer 401. A request
    /// with a token that fails is refused as before, never served anonymously.
    pub anonymous_role: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwt_public_key: None,
            jwt_public_key_algorithm: KeyAlgorithm::Rs256,
            token_ttl: Duration::from_secs(3600),
            leeway: Duration::from_secs(30),
            anonymous_role: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum KeyAlgorithm {
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "ES256")]
    Es256,
}

/// Limits of the sync endpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Most operations accepted in one push.
    pub max_batch: usize,
    /// Longest long-poll (`wait=`) of the changes feed.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// How often a waiting changes request looks for writes made by other replicas.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How often a live stream (`/sync/stream`) sends a heartbeat comment, and checks that the
    /// caller's device token still holds.
    #[serde(with = "humantime_serde")]
    pub stream_heartbeat: Duration,
    /// Bring rows other connections write directly in the database (other services, `psql`,
    /// `sqlite3`, migrations) into the changes feed: triggers on every declared table log them
    /// and the gateway imports them. `false` removes the triggers.
    pub external_writes: bool,
    /// On SQLite, where another process cannot announce its writes, how often waiting readers
    /// look for them (and the gateway for their outbox entries and hooks); PostgreSQL announces
    /// them at once and falls back to `poll_interval`.
    #[serde(with = "humantime_serde")]
    pub external_poll: Duration,
    /// This gateway's range of server-assigned integer keys (`key_assigned_by = "server"`):
    /// node N assigns keys from N × 2^40 up (node 0 from 1), so that the hub (0) and each edge
    /// (1 to 8191, each its own) never assign the same key, and every key stays below 2^53 (exact
    /// in JavaScript).
    pub key_node: u16,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            max_batch: 5000,
            max_wait: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            stream_heartbeat: Duration::from_secs(15),
            external_writes: true,
            external_poll: Duration::from_millis(20),
            key_node: 0,
        }
    }
}

/// How device status is judged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DevicesConfig {
    /// A device with unacknowledged changes for longer than this is `stale`.
    #[serde(with = "humantime_serde")]
    pub stale_after: Duration,
    /// A device not seen for longer than this is `offline`.
    #[serde(with = "humantime_serde")]
    pub offline_after: Duration,
    /// How often the last-seen times of active devices are written to the database (they are
    /// kept in memory in between, so requests do not each write).
    #[serde(with = "humantime_serde")]
    pub activity_flush: Duration,
    /// How long a device token works after it was issued (at registration, or by
    /// `POST /sync/devices/{id}/token`, which a device calls with its own token to refresh it).
    /// Independent of the JWT used to register: a device keeps working offline after the login
    /// that registered it has expired, but not longer than this.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
}

impl Default for DevicesConfig {
    fn default() -> Self {
        Self {
            stale_after: Duration::from_secs(3600),
            offline_after: Duration::from_secs(24 * 3600),
            activity_flush: Duration::from_secs(5),
            token_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Hook plugins: the script sandbox and webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Most Rhai operations one hook call may run before it is stopped.
    pub max_operations: u64,
    /// Key of the HMAC-SHA256 signature of webhook calls (`X-Syncgate-Signature`).
    pub webhook_secret: Option<Secret>,
    /// How long a webhook may take to answer.
    #[serde(with = "humantime_serde")]
    pub webhook_timeout: Duration,
    /// Tries of an `after_commit` webhook delivery before it is marked failed.
    pub webhook_max_attempts: u32,
    /// Reload schemas and plugins when their files change (SIGHUP always reloads).
    pub watch: bool,
    /// Most rows one hook call may ask to write with `write(table, action, row)`.
    pub max_hook_writes: usize,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            max_operations: 1_000_000,
            webhook_secret: None,
            webhook_timeout: Duration::from_secs(5),
            webhook_max_attempts: 8,
            watch: true,
            max_hook_writes: 100,
        }
    }
}

/// The hub an edge syncs with: another syncgate, reached through its public API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL of the hub's sync API, with its prefix, e.g. `http://hub:8080/api/v1`.
    pub url: url::Url,
    /// Bearer token the edge uses at the hub (a JWT or a device token of the hub).
    pub token: Secret,
    /// The `device_id` the edge pushes as.
    pub device_id: String,
    /// How often the hub's reachability is checked.
    #[serde(default = "default_probe_interval", with = "humantime_serde")]
    pub probe_interval: Duration,
    /// How long one request to the hub may take.
    #[serde(default = "default_upstream_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_probe_interval() -> Duration {
    Duration::from_secs(10)
}

fn default_upstream_timeout() -> Duration {
    Duration::from_secs(15)
}

/// Files of `file` columns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// Directory the files and upload chunks are stored in.
    pub dir: PathBuf,
    /// How long an unfinished upload session lives.
    #[serde(with = "humantime_serde")]
    pub upload_expiry: Duration,
    /// How old an unreferenced file must be before the cleanup job removes it (default 1m:
    /// a file just stored may be about to be attached).
    #[serde(default, with = "humantime_serde")]
    pub cleanup_grace: Option<Duration>,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            dir: "data/files".into(),
            upload_expiry: Duration::from_secs(24 * 3600),
            cleanup_grace: None,
        }
    }
}
