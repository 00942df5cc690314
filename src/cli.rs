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
    /// Write the JSON Schema of the schema files (for editors).
    JsonSchema {
        /// Where to write it; `-` for standard output.
        #[arg(long, default_value = "schemas/sync-schema.json")]
        output: PathBuf,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { listen, log_format } => {
            let mut config = config::load(&cli.config)?;
            if let Some(listen) = listen {
                config.server.listen = listen;
            }
            logging::init(&config.log.level, log_format.unwrap_or(config.log.format));
            let address = config.server.listen;
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen on {address}. Another process may hold the port; set \
                     `[server] listen` in the config or pass `--listen HOST:PORT`"
                    )
                })?;
            server::launch(config, listener, shutdown_signal()).await?;
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
            let config = config::load(&cli.config)?;
            logging::init(&config.log.level, config.log.format);
            let (schema, db) = server::prepare(&config).await?;
            let pending = store::pending_migrations(&db).await?;
            println!(
                "ok: migrations applied ({} pending), {} schema table{} up to date",
                pending.len(),
                schema.tables.len(),
                if schema.tables.len() == 1 { "" } else { "s" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::JsonSchema { output } => {
            let text = schema::json_schema::render();
            if output.as_os_str() == "-" {
                print!("{text}");
            } else {
                std::fs::write(&output, text)
                    .with_context(|| format!("cannot write {}", output.display()))?;
                println!("wrote {}", output.display());
            }
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
