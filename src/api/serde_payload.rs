//! JSON bodies read and written with serde, straight from and to bytes, and described in the
//! OpenAPI document by a documentation type `D` (see [`super::sync_doc`]).
//!
//! The sync core's types are plain serde data. poem-openapi's `Json<T>` would need them to
//! implement its own traits, and it parses into (and prints from) a `serde_json::Value` tree in
//! between: in a push profile that tree cost about a tenth of the gateway's time.

use super::error::ApiError;
use poem::http::StatusCode;
use poem::{IntoResponse, Request, RequestBody, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// The JSON content type the API reads and writes (JSON is UTF-8: RFC 8259 defines no charset).
pub const JSON: &str = "application/json";

/// A request body of type `T`, documented as `D`.
pub struct JsonBody<T, D>(pub T, PhantomData<D>);

impl<T: Send, D: Type> Payload for JsonBody<T, D> {
    const CONTENT_TYPE: &'static str = JSON;

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        let essence = essence.to_ascii_lowercase();
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        D::schema_ref()
    }

    fn register(registry: &mut Registry) {
        D::register(registry);
    }
}

impl<T: DeserializeOwned + Send, D: Type> ParsePayload for JsonBody<T, D> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = <Vec<u8> as poem::FromRequest>::from_request(request, body).await?;
        Ok(Self(parse_json(&bytes)?, PhantomData))
    }
}

poem_openapi::impl_apirequest_for_payload!(JsonBody<T, D>, T: DeserializeOwned + Send, D: Type);

/// An answer of type `T` with status `STATUS`, documented as `D`.
pub struct JsonAnswer<T, D, const STATUS: u16 = 200>(pub T, PhantomData<D>);

impl<T, D, const STATUS: u16> JsonAnswer<T, D, STATUS> {
    pub fn new(value: T) -> Self {
        Self(value, PhantomData)
    }
}

/// Serialises `value` as the JSON body of a response with `status`.
pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => Response::builder()
            .status(status)
            .content_type(JSON)
            .body(bytes),
        Err(error) => {
            tracing::error!(%error, "an answer could not be serialised");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

impl<T: Serialize + Send, D: Type, const STATUS: u16> IntoResponse for JsonAnswer<T, D, STATUS> {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(STATUS).unwrap_or(StatusCode::OK);
        json_response(status, &self.0)
    }
}

/// A `200` answer whose JSON body is already encoded, documented as `D`: the same bytes for
/// every request that shares them (the changes feed's page, for thousands of long-polls at
/// once), written without serialising or copying them again.
pub struct EncodedJson<D>(pub bytes::Bytes, PhantomData<D>);

impl<D> EncodedJson<D> {
    pub fn new(json: bytes::Bytes) -> Self {
        Self(json, PhantomData)
    }
}

impl<D: Send> IntoResponse for EncodedJson<D> {
    fn into_response(self) -> Response {
        encoded_json_response(self.0)
    }
}

/// A `200` response with `json`, a body already encoded as JSON.
pub fn encoded_json_response(json: bytes::Bytes) -> Response {
    Response::builder().content_type(JSON).body(json)
}

impl<D: Type + Send> ApiResponse for EncodedJson<D> {
    fn meta() -> MetaResponses {
        JsonAnswer::<(), D>::meta()
    }

    fn register(registry: &mut Registry) {
        D::register(registry);
    }
}

impl<T: Serialize + Send, D: Type, const STATUS: u16> ApiResponse for JsonAnswer<T, D, STATUS> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(STATUS),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: JSON,
                    schema: D::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        D::register(registry);
    }
}

/// Parses a JSON body, answering 400 with the line and column of a syntax error.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    super::strict_json::refuse_duplicate_keys(bytes)?;
    serde_json::from_slice(bytes).map_err(|error| {
        let syntax = error.is_syntax() || error.is_eof();
        ApiError::unreadable_body(
            syntax,
            &error.to_string(),
            Some((error.line(), error.column())),
        )
    })
}
