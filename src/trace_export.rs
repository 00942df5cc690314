//! OpenTelemetry traces over OTLP/HTTP: the spans the gateway opens (each request, each push
//! stage, feed reads, jobs, webhook calls) go to the collector `[tracing] endpoint` names, in
//! batches from a background thread, with `service.name` and the request id as attributes. A
//! request carrying a W3C `traceparent` continues the caller's trace. Off (nothing exported,
//! nothing extracted) unless an endpoint is configured.

use crate::config::TracingConfig;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Set once traces are exported: requests then read their `traceparent`.
static PROPAGATOR: OnceLock<TraceContextPropagator> = OnceLock::new();

/// The exporting tracer provider; flushes what is left when shut down.
pub struct TraceExport(SdkTracerProvider);

impl TraceExport {
    /// The provider for `config`, or `None` when no endpoint is set. The batch thread sends
    /// with reqwest's blocking client, so this may be called inside the tokio runtime.
    pub fn start(config: &TracingConfig) -> Result<Option<Self>, String> {
        let Some(endpoint) = &config.endpoint else {
            return Ok(None);
        };
        let url = if endpoint.trim_end_matches('/').ends_with("/v1/traces") {
            endpoint.clone()
        } else {
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        };
        // reqwest's blocking client starts its own runtime, which may not be built on a
        // runtime's thread: the exporter is built on a plain one.
        let exporter = std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .map_err(|error| error.to_string())?;
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(client)
                .with_endpoint(url)
                .build()
                .map_err(|error| error.to_string())
        })
        .join()
        .map_err(|_| "the OTLP exporter could not be built".to_string())??;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder_empty()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        let _ = PROPAGATOR.set(TraceContextPropagator::new());
        Ok(Some(Self(provider)))
    }

    pub fn tracer(&self) -> opentelemetry_sdk::trace::Tracer {
        self.0.tracer("syncgate")
    }

    /// Sends the spans still buffered; called once the server has stopped.
    pub fn shutdown(&self) {
        if let Err(error) = self.0.shutdown() {
            eprintln!("syncgate: traces not all exported at shutdown: {error}");
        }
    }
}

/// Whether spans are exported (an endpoint is configured and the exporter started).
pub fn enabled() -> bool {
    PROPAGATOR.get().is_some()
}

/// Makes `span` continue the trace of the request's `traceparent` (and `tracestate`), when
/// traces are exported and the header is there.
pub fn continue_trace(span: &tracing::Span, headers: &poem::http::HeaderMap) {
    let Some(propagator) = PROPAGATOR.get() else {
        return;
    };
    if !headers.contains_key("traceparent") {
        return;
    }
    let context = propagator.extract(&Headers(headers));
    let _ = span.set_parent(context);
}

/// OpenTelemetry's HTTP server attributes on the request's span, when traces are exported.
pub fn describe_request(span: &tracing::Span, method: &str, route: &str, path: &str, status: u16) {
    if PROPAGATOR.get().is_none() {
        return;
    }
    span.set_attribute("http.request.method", method.to_string());
    span.set_attribute("http.route", route.to_string());
    span.set_attribute("url.path", path.to_string());
    span.set_attribute("http.response.status_code", i64::from(status));
}

struct Headers<'a>(&'a poem::http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}
