//! A test's own directory and database: SQLite always, PostgreSQL when its URL is given.

use super::TEST_SECRET;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use std::path::{Path, PathBuf};
use std::time::Duration;
use syncgate::config::{Config, Secret};
use tempfile::TempDir;

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
