//! Reloading schemas and plugins without a restart: on a change under the schema or plugin
//! directory (file watch) or on SIGHUP. The new files pass the same checks as `syncgate check`
//! and are applied to the database; only then are the schema, hooks, routes and OpenAPI document
//! swapped, at once. If anything fails, the errors are logged and the previous schema keeps
//! serving.

use super::load::{apply, load_files};
use crate::api::{AppState, FailedReload, Served};
use crate::ops::metrics::SCHEMA_RELOADS;
use notify::{RecursiveMode, Watcher};
use std::sync::Arc;
use std::time::Duration;

/// Loads, checks, applies and swaps in the current files.
pub async fn reload(state: &AppState) -> Result<usize, FailedReload> {
    let failed = |file: Option<String>, error: String| FailedReload {
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        file,
        error,
    };
    let (schema, plugins) = load_files(&state.config).map_err(|diagnostics| {
        let file = diagnostics
            .0
            .first()
            .map(|diagnostic| diagnostic.file.display().to_string());
        failed(file, diagnostics.to_string())
    })?;
    // The API first: a schema it cannot serve (an alias left without its endpoint) changes
    // nothing in the database either.
    let schema = Arc::new(schema);
    let api =
        crate::api::build(schema.clone(), &state.config).map_err(|error| failed(None, error))?;
    apply(&state.db, &schema, &state.config)
        .await
        .map_err(|error| failed(None, error.to_string()))?;
    let tables = schema.tables.len();
    let generation = state.current.load().generation + 1;
    state
        .current
        .store(Arc::new(Served::new(schema, plugins, api, generation)));
    // Open streams look at their view again now, not at the next commit: one whose view the
    // reload changed tells its client at once.
    state.feed.schema_changed();
    Ok(tables)
}

async fn reload_and_log(state: &AppState, why: &str) {
    match reload(state).await {
        Ok(tables) => {
            state.reloads.record(None);
            metrics::counter!(SCHEMA_RELOADS, "outcome" => "ok").increment(1);
            tracing::info!(trigger = why, tables, "schema reloaded")
        }
        Err(failure) => {
            metrics::counter!(SCHEMA_RELOADS, "outcome" => "failed").increment(1);
            tracing::error!(
                trigger = why,
                "schema not reloaded, the previous one keeps serving: {}",
                failure.error
            );
            state.reloads.record(Some(failure));
        }
    }
}

/// Watches the schema and plugin directories (when `plugins.watch`) and listens for SIGHUP.
///
/// The watch and the signal handler are in place when this returns, before the gateway serves:
/// set up inside the spawned task, a file changed right after start-up could go unseen.
pub fn spawn(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    let (sender, mut changes) = tokio::sync::mpsc::unbounded_channel::<()>();
    let watcher = if state.config.plugins.watch {
        watch(&state, sender)
    } else {
        None
    };
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    tokio::spawn(async move {
        // Kept for the task's life: dropping the watcher ends the watch.
        let _watcher = watcher;
        loop {
            #[cfg(unix)]
            let hangup_signal = async {
                match hangup.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup_signal = std::future::pending::<Option<()>>();
            // Without a watch (turned off, or it could not start) the channel is closed and
            // its branch disabled: SIGHUP still reloads.
            tokio::select! {
                Some(()) = changes.recv() => {
                    // Editors save in several steps: wait for the burst to end.
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    while changes.try_recv().is_ok() {}
                    reload_and_log(&state, "file change").await;
                }
                _ = hangup_signal => reload_and_log(&state, "SIGHUP").await,
            }
        }
    })
}

fn watch(
    state: &AppState,
    sender: tokio::sync::mpsc::UnboundedSender<()>,
) -> Option<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !event.kind.is_access()
        {
            let _ = sender.send(());
        }
    })
    .map_err(|error| tracing::warn!(%error, "cannot watch the schema files; SIGHUP still reloads"))
    .ok()?;
    for dir in [&state.config.paths.schemas, &state.config.paths.plugins] {
        if dir.is_dir()
            && let Err(error) = watcher.watch(dir, RecursiveMode::NonRecursive)
        {
            tracing::warn!(dir = %dir.display(), %error, "cannot watch the directory; SIGHUP still reloads");
        }
    }
    Some(watcher)
}
