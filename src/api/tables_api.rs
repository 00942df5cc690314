//! Typed endpoints generated per table at start-up: `POST /tables/{table}/push`,
//! `GET /tables/{table}/changes`, `GET /tables/{table}/rows/{pk}`. Their bodies carry the
//! table's own columns in the OpenAPI document, and a new table needs no recompilation: this
//! API implements poem-openapi's `OpenApi` trait by hand from the loaded schema.

use super::bearer::{BearerAuth, authenticate, state_of};
use super::context::{self, intern};
use super::error::ApiError;
use super::error_body::ErrorBody;
use super::push_body::PushBody;
use super::reads::run_changes;
use super::row_doc::row_schema;
use super::serde_payload::{encoded_json_response, json_response, parse_json};
use super::tables_doc::{self, changes_page_schema, push_outcome_schema, push_request_schema};
use super::writes::run_push;
use crate::schema::model::ColumnType;
use crate::schema::{Schema, TableDef};
use crate::sync::{SyncError, access, visible_row};
use poem::endpoint::{BoxEndpoint, make};
use poem::http::{Method, StatusCode};
use poem::{EndpointExt, Request, Response};
use poem_openapi::registry::{
    MetaApi, MetaMediaType, MetaOperation, MetaOperationParam, MetaParamIn, MetaPath, MetaRequest,
    MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, MetaTag, Registry,
};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, OpenApi};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

pub struct TablesApi {
    pub schema: Arc<Schema>,
    pub prefix: String,
}

impl OpenApi for TablesApi {
    fn meta() -> Vec<MetaApi> {
        let Some(context) = context::current() else {
            return Vec::new();
        };
        let prefix = &context.prefix;
        let paths = context
            .schema
            .tables
            .values()
            .flat_map(|table| {
                let name = &table.name;
                [
                    MetaPath {
                        path: format!("{prefix}/tables/{name}/push"),
                        operations: vec![push_operation(table)],
                    },
                    MetaPath {
                        path: format!("{prefix}/tables/{name}/changes"),
                        operations: vec![changes_operation(table)],
                    },
                    MetaPath {
                        path: format!("{prefix}/tables/{name}/rows/{{pk}}"),
                        operations: vec![row_operation(table)],
                    },
                ]
            })
            .collect();
        vec![MetaApi { paths }]
    }

    fn register(registry: &mut Registry) {
        <BearerAuth as poem_openapi::ApiExtractor>::register(registry);
        <ErrorBody as Type>::register(registry);
        let Some(context) = context::current() else {
            return;
        };
        tables_doc::register_tables(registry, &context.schema);
        for table in context.schema.tables.values() {
            registry.tags.insert(MetaTag {
                name: intern(&table.name),
                description: table.spec.description.as_deref().map(intern),
                external_docs: None,
            });
        }
    }

    fn add_routes(self, route_table: &mut HashMap<String, HashMap<Method, BoxEndpoint<'static>>>) {
        for table in self.schema.tables.keys() {
            let base = format!("{}/tables/{table}", self.prefix);
            let name = table.clone();
            route_table
                .entry(format!("{base}/push"))
                .or_default()
                .insert(Method::POST, handler(name.clone(), push_handler));
            route_table
                .entry(format!("{base}/changes"))
                .or_default()
                .insert(Method::GET, handler(name.clone(), changes_handler));
            route_table
                .entry(format!("{base}/rows/:pk"))
                .or_default()
                .insert(Method::GET, handler(name, row_handler));
        }
    }
}

type Handler = fn(
    String,
    Request,
) -> std::pin::Pin<Box<dyn Future<Output = Result<Response, ApiError>> + Send>>;

fn handler(table: String, run: Handler) -> BoxEndpoint<'static> {
    make(move |request: Request| {
        let table = table.clone();
        async move { run(table, request).await.map_err(poem::Error::from) }
    })
    .map_to_response()
    .boxed()
}

fn push_handler(
    table: String,
    mut request: Request,
) -> std::pin::Pin<Box<dyn Future<Output = Result<Response, ApiError>> + Send>> {
    Box::pin(async move {
        let state = state_of(&request)?.clone();
        let caller = authenticate(&request).await?;
        let bytes = request.take_body().into_vec().await.map_err(|error| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", error.to_string())
        })?;
        let body: PushBody = parse_json(&bytes)?;
        let (device_id, atomic, operations) = body.into_batch(Some(&table))?;
        let outcome = run_push(&state, &caller, device_id, atomic, operations).await?;
        Ok(json_response(StatusCode::OK, &outcome))
    })
}

#[derive(Deserialize)]
struct ChangesParams {
    cursor: Option<String>,
    limit: Option<u64>,
    wait: Option<u64>,
}

fn changes_handler(
    table: String,
    request: Request,
) -> std::pin::Pin<Box<dyn Future<Output = Result<Response, ApiError>> + Send>> {
    Box::pin(async move {
        let state = state_of(&request)?.clone();
        let caller = authenticate(&request).await?;
        let params: ChangesParams = request.params().map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("bad query: {error}"),
            )
        })?;
        let page = run_changes(
            &state,
            &caller,
            params.cursor.as_deref(),
            params.limit,
            Some(vec![table]),
            params.wait,
        )
        .await?;
        // The page comes encoded: the same bytes for every request that shared its read.
        Ok(encoded_json_response(page.json))
    })
}

fn row_handler(
    table: String,
    request: Request,
) -> std::pin::Pin<Box<dyn Future<Output = Result<Response, ApiError>> + Send>> {
    Box::pin(async move {
        let state = state_of(&request)?.clone();
        let caller = authenticate(&request).await?;
        let raw_key = request.path_params::<String>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the row key is missing from the path",
            )
        })?;
        let schema = state.schema();
        let access = access(&schema, &caller, &table)?;
        let key = access
            .table
            .parse_key(&raw_key)
            .map_err(|reason| ApiError::bad_request("pk", reason))?;
        let row = visible_row(&state.db, &access, &key)
            .await
            .map_err(SyncError::from)?
            .ok_or(SyncError::RowNotFound {
                table: table.clone(),
                key: key.to_string(),
            })?;
        Ok(json_response(StatusCode::OK, &row.into_client()))
    })
}

fn json_content(schema: MetaSchemaRef) -> Vec<MetaMediaType> {
    vec![MetaMediaType {
        content_type: "application/json",
        schema,
    }]
}

fn responses(ok: &'static str, schema: MetaSchemaRef) -> MetaResponses {
    let mut responses = vec![MetaResponse {
        description: ok,
        status: Some(200),
        status_range: None,
        content: json_content(schema),
        headers: vec![],
    }];
    responses.extend(ApiError::meta().responses);
    MetaResponses { responses }
}

fn operation(table: &TableDef, method: Method, summary: &str, id: &str) -> MetaOperation {
    MetaOperation {
        method,
        tags: vec![intern(&table.name)],
        summary: Some(intern(summary)),
        description: None,
        external_docs: None,
        params: vec![],
        request: None,
        responses: MetaResponses { responses: vec![] },
        deprecated: false,
        security: vec![HashMap::from([("BearerAuth", vec![])])],
        operation_id: Some(intern(id)),
        code_samples: vec![],
    }
}

fn query_param(name: &str, schema: MetaSchema, description: &str) -> MetaOperationParam {
    MetaOperationParam {
        name: name.into(),
        schema: MetaSchemaRef::Inline(Box::new(schema)),
        in_type: MetaParamIn::Query,
        description: Some(description.into()),
        required: false,
        deprecated: false,
        explode: true,
        style: None,
    }
}

fn push_operation(table: &TableDef) -> MetaOperation {
    let name = &table.name;
    MetaOperation {
        description: Some(intern(&format!(
            "Push a batch of changes to `{name}` rows; the same rules as `POST /sync/push`."
        ))),
        request: Some(MetaRequest {
            description: None,
            content: json_content(MetaSchemaRef::Reference(push_request_schema(name))),
            required: true,
        }),
        responses: responses(
            "Every operation's result.",
            MetaSchemaRef::Reference(push_outcome_schema(name)),
        ),
        ..operation(
            table,
            Method::POST,
            &format!("Push changes to {name}"),
            &format!("{name}_push"),
        )
    }
}

fn changes_operation(table: &TableDef) -> MetaOperation {
    let name = &table.name;
    MetaOperation {
        description: Some(intern(&format!(
            "The changes feed of `{name}` alone; the same rules as `GET /sync/changes`."
        ))),
        params: vec![
            query_param(
                "cursor",
                MetaSchema::new("string"),
                "Continue after this cursor.",
            ),
            query_param(
                "limit",
                MetaSchema::new_with_format("integer", "uint64"),
                "Changes per page: default 100; a larger value than 1000 is capped at 1000.",
            ),
            query_param(
                "wait",
                MetaSchema::new_with_format("integer", "uint64"),
                "Seconds to wait for a change when there is none (at most 60).",
            ),
        ],
        responses: responses(
            "A page of changes.",
            MetaSchemaRef::Reference(changes_page_schema(name)),
        ),
        ..operation(
            table,
            Method::GET,
            &format!("Changes of {name}"),
            &format!("{name}_changes"),
        )
    }
}

fn row_operation(table: &TableDef) -> MetaOperation {
    let name = &table.name;
    let pk = &table.spec.primary_key;
    let key_schema = match table.spec.columns[pk].kind {
        ColumnType::Integer => MetaSchema::new_with_format("integer", "int64"),
        ColumnType::Uuid => MetaSchema::new_with_format("string", "uuid"),
        _ => MetaSchema::new("string"),
    };
    MetaOperation {
        description: Some(intern(&format!(
            "The live `{name}` row whose `{pk}` is `pk`, if the caller may read it."
        ))),
        params: vec![MetaOperationParam {
            name: "pk".into(),
            schema: MetaSchemaRef::Inline(Box::new(key_schema)),
            in_type: MetaParamIn::Path,
            description: Some(format!("The row's `{pk}`.")),
            required: true,
            deprecated: false,
            explode: true,
            style: None,
        }],
        responses: responses("The row.", MetaSchemaRef::Reference(row_schema(name))),
        ..operation(
            table,
            Method::GET,
            &format!("One {name} row"),
            &format!("{name}_row"),
        )
    }
}
