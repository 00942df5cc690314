//! The HTTP API: fixed endpoints written with poem-openapi (health, sync), per-table endpoints
//! generated from the schema, the OpenAPI document that describes them all, and the one error
//! body they answer with.

mod aliases;
mod allow;
pub mod anonymous;
mod bearer;
mod context;
mod devices_api;
mod document;
pub mod error;
mod error_body;
mod files_api;
mod health;
mod poem_error;
mod prefixed;
mod push_body;
mod reads;
pub mod request_span;
mod row_doc;
mod serde_payload;
mod state;
mod stream_api;
mod strict_json;
pub mod sync_api;
mod sync_doc;
mod tables_api;
pub mod tables_doc;
mod unique_keys;
mod upstream_api;
mod writes;

use crate::config::Config;
use crate::schema::Schema;
use context::BuildContext;
use poem::endpoint::BoxEndpoint;
use poem::{EndpointExt, IntoEndpoint};
pub use poem_error::render_poem_error;
use poem_openapi::OpenApiService;
use prefixed::Prefixed;
pub use state::{AppState, FailedReload, ReloadHistory, Served};
use std::sync::Arc;
use sync_api::SyncApi;
use tables_api::TablesApi;

/// The API built for one schema: its routes, its OpenAPI document and the docs page.
pub struct BuiltApi {
    pub endpoint: BoxEndpoint<'static>,
    pub docs: BoxEndpoint<'static>,
    /// The OpenAPI 3 document, pretty-printed JSON.
    pub spec: String,
    /// The methods of each path, for the `Allow` header of a 405.
    pub methods: allow::AllowedMethods,
    /// Extra paths of the endpoints (`server.aliases`).
    pub aliases: aliases::Aliases,
}

/// Builds the routes and the document for `schema`, with the sync API under
/// `server.api_prefix` and the aliases of `server.aliases`; fails when an alias does not fit
/// the endpoints (each problem named).
pub fn build(schema: Arc<Schema>, config: &Config) -> Result<BuiltApi, String> {
    let prefix = config.server.api_prefix.as_str();
    let _building = context::begin(BuildContext {
        schema: schema.clone(),
        prefix: prefix.to_string(),
    });
    let service = OpenApiService::new(
        (
            health::HealthApi,
            Prefixed {
                api: (
                    SyncApi,
                    devices_api::DevicesApi,
                    upstream_api::UpstreamApi,
                    files_api::FilesApi,
                ),
                prefix: prefix.to_string(),
            },
            TablesApi {
                schema,
                prefix: prefix.to_string(),
            },
        ),
        "syncgate",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Sync gateway for offline-first applications. Devices push batches of changes and read \
         what changed elsewhere through a cursor. Every endpoint but `/health`, `/ready`, \
         `/openapi.json` and `/docs` needs `Authorization: Bearer <JWT>`. Errors share one body: \
         `{\"error\": {\"code\", \"message\", \"details\"}}`. Every response carries an \
         `X-Request-Id` header: the one the request sent (1-128 visible ASCII characters), or a \
         generated one; the gateway's log lines for the request carry it too. Outside this \
         document: `GET /metrics` (Prometheus text format) and `GET /status` (an HTML page for \
         operators).",
    );
    let spec = document::finish(&service.spec());
    let aliases = aliases::Aliases::resolve(&config.server.aliases, &spec)
        .map_err(|problems| format!("key `server.aliases`: {}", problems.join("; ")))?;
    let spec = document::configured(&spec, &aliases, config.auth.anonymous_role.as_deref());
    let docs = docs_page(&spec);
    let endpoint = service.into_endpoint().map_to_response().boxed();
    Ok(BuiltApi {
        endpoint,
        docs,
        methods: allow::AllowedMethods::from_spec(&spec),
        aliases,
        spec,
    })
}

/// The interactive docs page (Scalar, bundled): the finished document, the service's title, and
/// no request leaving the machine (Scalar fetches its fonts from its own host unless told not to).
fn docs_page(spec: &str) -> BoxEndpoint<'static> {
    let html = poem_openapi::OpenApiService::new((), "", "")
        .scalar_html()
        // No favicon request either (it would answer 404).
        .replacen(
            "<title>Scalar</title>",
            r#"<title>syncgate API</title><link rel="icon" href="data:,">"#,
            1,
        )
        .replacen(
            r#"id="api-reference""#,
            r#"id="api-reference" data-configuration='{"withDefaultFonts": false}'"#,
            1,
        );
    // The bundled page embeds the document between these markers; put the finished one there.
    let html = match (
        html.find(r#"type="application/json""#),
        html.find("</script>"),
    ) {
        (Some(start), Some(end)) if start < end => {
            let body_start = start + html[start..].find('>').unwrap_or(0) + 1;
            format!("{}\n{spec}\n{}", &html[..body_start], &html[end..])
        }
        _ => html,
    };
    poem::endpoint::make_sync(move |_| poem::web::Html(html.clone()))
        .map_to_response()
        .boxed()
}
