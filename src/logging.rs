//! Log output: human-readable lines or JSON, filtered by `log.level` unless `RUST_LOG` is set;
//! and, when `[tracing]` names an endpoint, the same spans exported as OpenTelemetry traces
//! (filtered by `tracing.level` on their own).

use crate::config::{LogFormat, TracingConfig};
use crate::trace_export::TraceExport;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub fn init(level: &str, format: LogFormat) {
    let _ = init_with_traces(level, format, &TracingConfig::default());
}

/// Installs the log output and, when configured, the trace export (returned, to be shut down
/// at exit so the last spans are sent). An exporter that cannot be built is reported and
/// traces stay off; logging goes on.
pub fn init_with_traces(
    level: &str,
    format: LogFormat,
    tracing: &TracingConfig,
) -> Option<TraceExport> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colour codes only where a person reads them; a file or a collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let lines = match format {
        LogFormat::Json => lines.json().boxed(),
        LogFormat::Text => lines.boxed(),
    }
    .with_filter(filter);
    let (export, export_error) = match TraceExport::start(tracing) {
        Ok(export) => (export, None),
        Err(error) => (None, Some(error)),
    };
    let traces = export.as_ref().map(|export| {
        tracing_opentelemetry::layer()
            .with_tracer(export.tracer())
            .with_filter(EnvFilter::new(&tracing.level))
    });
    // A second init (tests launch several servers in one process) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(lines)
        .with(traces)
        .try_init();
    if let Some(error) = export_error {
        tracing::error!(%error, "traces are not exported");
    }
    export
}
