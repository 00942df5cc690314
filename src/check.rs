//! `syncgate check`: everything that would stop the gateway from starting, found at once —
//! config, schema files, hook files, and (unless `--offline`) the database's tables.

use crate::config::{self, Config};
use crate::key_positions::{KeyPositions, Position, quoted_words};
use crate::schema::Schema;
use crate::store;
use std::path::Path;

/// The outcome of a check: errors (each one line), notes, and a one-line summary.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub errors: Vec<String>,
    pub notes: Vec<String>,
    pub summary: String,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Loads the config like [`config::load`], adding the checks that need the layers above it
/// (a key file must hold a key the authenticator can use), all problems listed together.
pub fn load_config(path: &Path) -> Result<Config, config::ConfigError> {
    let config = config::read(path)?;
    let mut problems = config::problems(&config);
    // Without any key, the config's own check has said so already.
    if (config.auth.jwt_secret.is_some() || config.auth.jwt_public_key.is_some())
        && let Err(reason) = crate::auth::Authenticator::from_config(&config.auth)
    {
        problems.push(reason);
    }
    if !problems.is_empty() {
        return Err(config::ConfigError::Invalid(problems));
    }
    Ok(config)
}

pub async fn run(config_path: &Path, offline: bool) -> CheckReport {
    let mut report = CheckReport::default();
    let config = match load_config(config_path) {
        Ok(config) => config,
        Err(config::ConfigError::Invalid(problems)) => {
            let positions = KeyPositions::of_file(config_path);
            report.errors.extend(problems.into_iter().map(|problem| {
                match positions
                    .as_ref()
                    .and_then(|p| config_position(p, &problem))
                {
                    Some(at) => format!("{}:{at}: {problem}", config_path.display()),
                    None => format!("{}: {problem}", config_path.display()),
                }
            }));
            return finish(report);
        }
        Err(missing) => {
            report.errors.push(missing.to_string());
            return finish(report);
        }
    };
    let schema = match crate::server::load_files(&config) {
        Ok((schema, _plugins)) => schema,
        Err(diagnostics) => {
            report
                .errors
                .extend(diagnostics.0.iter().map(ToString::to_string));
            return finish(report);
        }
    };
    let schema = std::sync::Arc::new(schema);
    if let Err(problem) = crate::api::build(schema.clone(), &config) {
        report
            .errors
            .push(format!("{}: {problem}", config_path.display()));
        return finish(report);
    }
    let database = if offline {
        "database not checked (--offline)".to_string()
    } else {
        check_database(&config, &schema, &mut report).await
    };
    let plugins = schema.plugin_files(&config.paths.plugins).len();
    report.summary = format!(
        "ok: {}; {} schema file{}, {} role{}, {} table{}, {} hook plugin{}; {database}",
        config_path.display(),
        schema.files.len(),
        plural(schema.files.len()),
        schema.roles.len(),
        plural(schema.roles.len()),
        schema.tables.len(),
        plural(schema.tables.len()),
        plugins,
        plural(plugins),
    );
    finish(report)
}

/// Compares the schema with the database's tables, changing nothing.
async fn check_database(config: &Config, schema: &Schema, report: &mut CheckReport) -> String {
    if let Some(file) = config::sqlite_path(&config.database.url)
        && !file.exists()
    {
        return format!("database {} will be created on first start", file.display());
    }
    let db = match store::connect(&config.database).await {
        Ok(db) => db,
        Err(error) => {
            report.errors.push(format!(
                "{error}. Run `syncgate check --offline` to check only the files"
            ));
            return String::new();
        }
    };
    let mut pending = 0;
    match store::pending_migrations(&db).await {
        Ok(names) => pending = names.len(),
        Err(error) => report.errors.push(error.to_string()),
    }
    let summary = match store::plan(&db, schema).await {
        Ok(plan) => {
            report.errors.extend(
                plan.refusals
                    .iter()
                    .map(|refusal| format!("database: {refusal}")),
            );
            report.notes.extend(
                plan.changes
                    .iter()
                    .map(|change| format!("at start: {change}")),
            );
            report.notes.extend(plan.undeclared.iter().map(|table| {
                format!(
                    "table `{table}` is in the database but not in the schema; it is left as it is"
                )
            }));
            if plan.changes.is_empty() && pending == 0 {
                "database up to date".to_string()
            } else {
                format!(
                    "database: {} migration{} and {} table change{} to apply at start",
                    pending,
                    plural(pending),
                    plan.changes.len(),
                    plural(plan.changes.len())
                )
            }
        }
        Err(error) => {
            report.errors.push(format!("database: {error}"));
            String::new()
        }
    };
    let _ = db.close().await;
    summary
}

/// Where a config problem's key is written: problems start "key `a.b`…" and may quote the key
/// they are about further on (an unknown key inside `a.b`).
fn config_position(positions: &KeyPositions, problem: &str) -> Option<Position> {
    let rest = problem.strip_prefix("key `")?;
    let key = &rest[..rest.find('`')?];
    let path: Vec<&str> = key.split('.').collect();
    positions.find(&path, quoted_words(problem).skip(1))
}

fn finish(mut report: CheckReport) -> CheckReport {
    if !report.passed() {
        let count = report.errors.len();
        report.summary = format!("{count} error{} found", plural(count));
    }
    report
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}
