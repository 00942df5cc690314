//! Shared test harness: real servers on 127.0.0.1 port 0, real SQLite files, and a real
//! PostgreSQL database per test when `SGTEST_POSTGRES_URL` is set (`scripts/test` sets it).
#![allow(dead_code)]

pub mod process;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use syncgate::auth::{Authenticator, Claims};
use syncgate::config::{Config, Secret};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The HS256 secret of every test server.
pub const TEST_SECRET: &str = "test-secret-that-is-long-enough-32b";

/// A token for `sub` with `role` and an optional branch, valid for an hour.
pub fn token(sub: &str, role: &str, branch: Option<Value>) -> String {
    token_with(sub, role, branch, serde_json::Map::new(), 3600)
}

pub fn token_with(
    sub: &str,
    role: &str,
    branch: Option<Value>,
    other: serde_json::Map<String, Value>,
    ttl_seconds: i64,
) -> String {
    let config = syncgate::config::AuthConfig {
        jwt_secret: Some(Secret::new(TEST_SECRET)),
        ..Default::default()
    };
    Authenticator::from_config(&config)
        .unwrap()
        .mint(&Claims {
            sub: sub.into(),
            role: role.into(),
            branch,
            exp: chrono::Utc::now().timestamp() + ttl_seconds,
            other,
        })
        .unwrap()
}

/// The environment variable holding an admin URL of a throwaway PostgreSQL server.
pub const POSTGRES_ENV: &str = "SGTEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Every backend the tests can reach: SQLite always, PostgreSQL when its URL is given.
pub fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if std::env::var(POSTGRES_ENV).is_ok() {
        backends.push(Backend::Postgres);
    } else {
        eprintln!("{POSTGRES_ENV} is not set: PostgreSQL tests skipped (scripts/test sets it)");
    }
    backends
}

/// A test's own directory (schemas, plugins, SQLite file) and database.
pub struct Sandbox {
    pub dir: TempDir,
    pub backend: Backend,
    pub database_url: String,
}

impl Sandbox {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("schemas")).unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("data/test.db").display()),
            Backend::Postgres => create_postgres_database().await,
        };
        Self {
            dir,
            backend,
            database_url,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn schemas(&self) -> PathBuf {
        self.path().join("schemas")
    }

    /// Writes `schemas/NAME` (replacing the previous content).
    pub fn write_schema(&self, name: &str, text: &str) {
        std::fs::write(self.schemas().join(name), text).unwrap();
    }

    /// The shipped example: `schemas/shop.toml` and the hook scripts it names.
    pub fn write_shop(&self) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::copy(
            root.join("schemas/shop.toml"),
            self.schemas().join("shop.toml"),
        )
        .unwrap();
        for entry in std::fs::read_dir(root.join("plugins")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rhai") {
                std::fs::copy(
                    &path,
                    self.path().join("plugins").join(path.file_name().unwrap()),
                )
                .unwrap();
            }
        }
    }

    pub fn remove_schema(&self, name: &str) {
        std::fs::remove_file(self.schemas().join(name)).unwrap();
    }

    /// A config for this sandbox: its database, its schema and plugin directories.
    pub fn config(&self) -> Config {
        let mut config = Config::default();
        config.database.url = self.database_url.clone();
        config.database.max_connections = 4;
        config.paths.schemas = self.schemas();
        config.paths.plugins = self.path().join("plugins");
        config.server.shutdown_timeout = Duration::from_secs(5);
        config.jobs.maintenance.schedule = String::new();
        config.auth.jwt_secret = Some(Secret::new(TEST_SECRET));
        config
    }

    /// Writes `config.toml` for the command-line tests and returns its path.
    pub fn write_config(&self, extra: &str) -> PathBuf {
        let path = self.path().join("config.toml");
        let text = format!(
            "[database]\nurl = \"{}\"\n\n[paths]\nschemas = \"schemas\"\nplugins = \"plugins\"\n\n\
             [auth]\njwt_secret = \"{TEST_SECRET}\"\n\n{extra}",
            self.database_url
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(&self.database_url)
            .await
            .expect("connect to test database")
    }
}

async fn create_postgres_database() -> String {
    let admin_url = std::env::var(POSTGRES_ENV).expect("SGTEST_POSTGRES_URL");
    let admin = Database::connect(&admin_url)
        .await
        .expect("connect to PostgreSQL");
    let name = format!("sgtest_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let _ = admin.close().await;
    let base = admin_url.rsplit_once('/').expect("URL with a database").0;
    format!("{base}/{name}")
}

/// A gateway running in this process on 127.0.0.1, stopped by [`TestServer::stop`].
pub struct TestServer {
    pub base_url: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), syncgate::server::StartError>>,
}

impl TestServer {
    /// Launches the gateway and waits until `/ready` answers 200.
    pub async fn start(config: Config) -> Self {
        Self::try_start(config).await.expect("the server starts")
    }

    /// Launches the gateway; returns the start-up error if it stops before it is ready.
    pub async fn try_start(config: Config) -> Result<Self, syncgate::server::StartError> {
        // Failing tests show the gateway's warnings and errors (nextest prints their output).
        syncgate::logging::init("syncgate=warn", syncgate::config::LogFormat::Text);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let mut task = tokio::spawn(syncgate::server::launch(config, listener, async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if task.is_finished() {
                return match (&mut task).await.expect("server task") {
                    Err(error) => Err(error),
                    Ok(()) => panic!("the server stopped before it was ready"),
                };
            }
            if let Ok(response) = client.get(format!("{base_url}/ready")).send().await
                && response.status() == 200
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server was not ready within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self {
            base_url,
            client,
            shutdown: Some(shutdown),
            task,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// GET with a bearer token; returns the status and the JSON body.
    pub async fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POST a JSON body with a bearer token; returns the status and the JSON body.
    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A push of `operations` by `device`, atomic unless `atomic` is false.
    pub async fn push(
        &self,
        token: &str,
        device: &str,
        atomic: bool,
        operations: Value,
    ) -> (u16, Value) {
        let body = json!({"device_id": device, "atomic": atomic, "operations": operations});
        self.post_as(token, "/api/v1/sync/push", &body).await
    }

    /// Asks the server to stop and waits until it has.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        (&mut self.task)
            .await
            .expect("server task")
            .expect("the server stops cleanly");
    }
}

/// Path of the built `syncgate` binary, for command-line tests.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_syncgate")
}

/// The schema of the sync tests (`tests/fixtures/sync.toml`).
pub const SYNC_SCHEMA: &str = include_str!("../fixtures/sync.toml");

/// A server on `backend` with the sync test schema.
pub async fn sync_server(backend: Backend) -> (Sandbox, TestServer) {
    let sandbox = Sandbox::new(backend).await;
    sandbox.write_schema("sync.toml", SYNC_SCHEMA);
    let server = TestServer::start(sandbox.config()).await;
    (sandbox, server)
}

pub fn admin() -> String {
    token("admin", "ADMIN", None)
}

pub fn clerk(branch: i64) -> String {
    token(&format!("clerk-{branch}"), "CLERK", Some(json!(branch)))
}

/// Every change the token can see, from the start (reads pages until `has_more` is false).
pub async fn all_changes(server: &TestServer, token: &str, query: &str) -> Vec<Value> {
    let mut cursor = String::new();
    let mut changes = Vec::new();
    loop {
        let (status, page) = server
            .get_as(
                token,
                &format!("/api/v1/sync/changes?cursor={cursor}&limit=1000{query}"),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        changes.extend(page["changes"].as_array().unwrap().iter().cloned());
        cursor = page["cursor"].as_str().unwrap().to_string();
        if !page["has_more"].as_bool().unwrap() {
            return changes;
        }
    }
}
