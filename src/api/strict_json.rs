//! A JSON request body read like poem-openapi's `Json<T>` (its validators, its documentation),
//! refusing first a body that names a key twice in one object ([`super::unique_keys`]).

use super::unique_keys;
use crate::sync::SyncError;
use poem::{FromRequest, Request, RequestBody, Result};
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};

pub struct StrictJson<T>(pub T);

impl<T> std::ops::Deref for StrictJson<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Type> Payload for StrictJson<T> {
    const CONTENT_TYPE: &'static str = <Json<T> as Payload>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        <Json<T> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for StrictJson<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    async fn from_request(request: &Request, body: &mut RequestBody) -> Result<Self> {
        let bytes = Vec::<u8>::from_request(request, body).await?;
        refuse_duplicate_keys(&bytes)?;
        let mut body = RequestBody::new(bytes.into());
        let Json(value) = Json::<T>::from_request(request, &mut body).await?;
        Ok(Self(value))
    }
}

poem_openapi::impl_apirequest_for_payload!(StrictJson<T>, T: ParseFromJSON);

/// 422 `validation_failed` naming the key a body sends twice, and where.
pub fn refuse_duplicate_keys(bytes: &[u8]) -> Result<(), super::error::ApiError> {
    unique_keys::check(bytes).map_err(|duplicate| {
        let field = duplicate.field();
        let place = if duplicate.path.is_empty() {
            "at the top of the body".to_string()
        } else {
            format!("in `{}`", duplicate.path)
        };
        SyncError::invalid(
            &field,
            format!(
                "the key `{}` appears twice {place}; send each key of an object once",
                duplicate.key
            ),
        )
        .into()
    })
}
