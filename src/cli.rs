//! The `syncgate` command line.

use crate::config::{self, LogFormat};
use crate::{check, logging, schema, server, store};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "syncgate",
    version,
    about = "Sync gateway for offline-first applications",
    long_about = "Sync gateway for offline-first applications.\n\n\
        Devices push batches of changes and pull what changed elsewhere; the tables, roles and \
        conflict rules come from the schema files in `schemas/`. Configuration: `config.toml` \
        (see the comments in the shipped file), overridden by SYNCGATE_* environment variables \
        with `__` between nested keys, e.g. SYNCGATE_DATABASE__URL."
)]
pub struct Cli {
    /// Path of the config file.
    #[arg(
        long,
        global = true,
        default_value = "config.toml",
        env = "SYNCGATE_CONFIG"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: create the database if needed, apply migrations and the schema, serve HTTP.
    ///
    /// Besides the sync API it serves /health, /ready, /openapi.json, /docs, /metrics (Prometheus
    /// text format, see `[metrics]`) and /status (a page for operators). Every request is logged
    /// once at `info` with its X-Request-Id.
    Serve {
        /// Listen on this address instead of `[server] listen`, e.g. 0.0.0.0:8080.
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<SocketAddr>,
        /// Log format (overrides `[log] format`).
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
    },
    /// Check the config, the schema files, their hook plugins and the database tables; list every
    /// error and exit 1 if there is any.
    Check {
        /// Do not connect to the database; check only the files.
        #[arg(long)]
        offline: bool,
    },
    /// Apply the system table migrations and the schema's tables, then exit.
    Migrate,
    /// Write the OpenAPI document of the configured schema (without starting the server).
    Openapi {
        /// Where to write it; `-` for standard output.
        #[arg(long, default_value = "openapi/openapi.json")]
        output: PathBuf,
    },
    /// Print a signed JWT for local use and tests (needs `auth.jwt_secret`).
    Token {
        /// The subject (user id), claim `sub`.
        #[arg(long)]
        sub: String,
        /// The role, as declared in the schema.
        #[arg(long)]
        role: String,
        /// The branch, claim `branch` (a number stays a number).
        #[arg(long)]
        branch: Option<String>,
        /// Lifetime, e.g. 15m, 1h, 7d (default `auth.token_ttl`).
        #[arg(long, value_parser = humantime::parse_duration)]
        ttl: Option<std::time::Duration>,
        /// Another claim for scope rules, as NAME=VALUE; repeatable.
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
    },
    /// Write the JSON Schema of the schema files (for editors).
    JsonSchema {
        /// Where to write it; `-` for standard output.
        #[arg(long, default_value = "schemas/sync-schema.json")]
        output: PathBuf,
    },
    /// Write the TypeScript types of the configured schema's tables for `@syncgate/client`.
    ///
    /// Per table: the row as the gateway sends it (`<Table>Row`), a new row and a change as a push
    /// accepts them (`<Table>Insert`, `<Table>Patch`), then `Tables` and the `schema` constant
    /// with each table's primary key.
    ClientTypes {
        /// Where to write it; `-` for standard output.
        #[arg(long, default_value = "-")]
        output: PathBuf,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { listen, log_format } => {
            let mut config = check::load_config(&cli.config)?;
            if let Some(listen) = listen {
                config.server.listen = listen;
            }
            let traces = logging::init_with_traces(
                &config.log.level,
                log_format.unwrap_or(config.log.format),
                &config.tracing,
            );
            warn_about_weak_secret(&config);
            if let Some(role) = &config.auth.anonymous_role {
                tracing::warn!(
                    role = %role,
                    "auth.anonymous_role is set: requests without a token act as `anonymous` \
                     with this role and may do all it permits"
                );
            }
            let address = config.server.listen;
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen on {address}. Another process may hold the port; set \
                     `[server] listen` in the config or pass `--listen HOST:PORT`"
                    )
                })?;
            let served = server::launch(config, listener, shutdown_signal()).await;
            if let Some(traces) = traces {
                // The batch thread's blocking export may not run on a runtime thread.
                tokio::task::spawn_blocking(move || traces.shutdown()).await?;
            }
            served?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { offline } => {
            let report = check::run(&cli.config, offline).await;
            for error in &report.errors {
                println!("error: {error}");
            }
            for note in &report.notes {
                println!("note: {note}");
            }
            println!("{}", report.summary);
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Migrate => {
            let config = check::load_config(&cli.config)?;
            logging::init(&config.log.level, config.log.format);
            let (schema, _plugins, db) = server::prepare(&config).await?;
            let pending = store::pending_migrations(&db).await?;
            println!(
                "ok: migrations applied ({} pending), {} schema table{} up to date",
                pending.len(),
                schema.tables.len(),
                if schema.tables.len() == 1 { "" } else { "s" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi { output } => {
            let config = check::load_config(&cli.config)?;
            let (schema, _plugins) = server::load_files(&config)?;
            let built = crate::api::build(std::sync::Arc::new(schema), &config)
                .map_err(|error| anyhow::anyhow!(error))?;
            write_output(&output, &built.spec)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            sub,
            role,
            branch,
            ttl,
            claims,
        } => {
            let config = check::load_config(&cli.config)?;
            let authenticator = crate::auth::Authenticator::from_config(&config.auth)
                .map_err(anyhow::Error::msg)?;
            let ttl = ttl.unwrap_or(config.auth.token_ttl);
            let mut other = serde_json::Map::new();
            for claim in claims {
                let (name, value) = claim
                    .split_once('=')
                    .with_context(|| format!("--claim `{claim}` is not NAME=VALUE"))?;
                other.insert(name.to_string(), claim_value(value));
            }
            let token = authenticator
                .mint(&crate::auth::Claims {
                    sub,
                    role,
                    branch: branch.as_deref().map(claim_value),
                    exp: chrono::Utc::now().timestamp() + ttl.as_secs() as i64,
                    other,
                })
                .map_err(anyhow::Error::msg)?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::JsonSchema { output } => {
            write_output(&output, &schema::json_schema::render())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ClientTypes { output } => {
            let config = check::load_config(&cli.config)?;
            let (schema, _plugins) = server::load_files(&config)?;
            write_output(&output, &schema::client_types::render(&schema))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Writes a generated file, or prints it when `output` is `-`.
fn write_output(output: &std::path::Path, text: &str) -> anyhow::Result<()> {
    if output.as_os_str() == "-" {
        print!("{text}");
        return Ok(());
    }
    if let Some(dir) = output.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(output, text).with_context(|| format!("cannot write {}", output.display()))?;
    println!("wrote {}", output.display());
    Ok(())
}

/// A claim value from the command line: numbers stay numbers, anything else is a string.
fn claim_value(text: &str) -> serde_json::Value {
    text.parse::<i64>()
        .map(serde_json::Value::from)
        .unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

fn warn_about_weak_secret(config: &config::Config) {
    if let Some(secret) = &config.auth.jwt_secret
        && (secret.expose().len() < 32 || secret.expose() == EXAMPLE_SECRET)
    {
        tracing::warn!(
            "auth.jwt_secret is the example value or shorter than 32 bytes: anyone who guesses it \
             can sign tokens for any role. Set a long random secret (SYNCGATE_AUTH__JWT_SECRET)"
        );
    }
}

/// The secret in the shipped config.toml.
const EXAMPLE_SECRET: &str = "change-me-this-is-the-example-secret";
