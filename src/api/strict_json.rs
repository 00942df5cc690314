//! A JSON request body read like poem-openapi's `Json<T>` (its validators, its documentation),
//! but first refusing what its document does not allow and `Json<T>` would let through: a key
//! named twice in one object ([`super::unique_keys`]), `null` for a required field or an array
//! item (an optional field may be `null`, the same as left out, and the document says so), and
//! a field of another JSON type than declared (`Json<T>` turns `false` or `12` into the text
//! `"false"` or `"12"`).

use super::unique_keys;
use crate::sync::SyncError;
use poem::{FromRequest, Request, RequestBody, Result};
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use serde_json::Value;

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
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
            refuse_undeclared_values::<T>(&value)?;
        }
        let mut body = RequestBody::new(bytes.into());
        let Json(value) = Json::<T>::from_request(request, &mut body).await?;
        Ok(Self(value))
    }
}

poem_openapi::impl_apirequest_for_payload!(StrictJson<T>, T: ParseFromJSON);

/// 422 naming the first field of the body whose value its schema does not allow: `null` where
/// the field is not nullable, or another JSON type (array items too).
fn refuse_undeclared_values<T: Type>(body: &Value) -> Result<(), super::error::ApiError> {
    let Value::Object(fields) = body else {
        return Ok(());
    };
    let mut registry = Registry::new();
    T::register(&mut registry);
    let schema_ref = T::schema_ref();
    let Some(schema) = resolve(&registry, &schema_ref) else {
        return Ok(());
    };
    for (field, value) in fields {
        let Some((_, property)) = schema.properties.iter().find(|(name, _)| name == field) else {
            continue;
        };
        // An optional field of its own schema may be `null`: the same as left out (the
        // document says nullable; see `document::nullable_optionals`).
        if value.is_null()
            && !schema.required.contains(&field.as_str())
            && matches!(property, MetaSchemaRef::Inline(_))
        {
            continue;
        }
        if let Some(reason) = refusal(&registry, property, value) {
            return Err(SyncError::invalid(field, format!("`{field}` {reason}")).into());
        }
    }
    Ok(())
}

fn resolve<'r>(registry: &'r Registry, schema: &'r MetaSchemaRef) -> Option<&'r MetaSchema> {
    match schema {
        MetaSchemaRef::Inline(schema) => Some(schema),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name.as_str()),
    }
}

/// Why `value` does not fit `schema`, if it does not (only the JSON type is checked here; the
/// rest is `Json<T>`'s).
fn refusal(registry: &Registry, schema: &MetaSchemaRef, value: &Value) -> Option<String> {
    let schema = resolve(registry, schema)?;
    let fits = match (schema.ty, value) {
        (_, Value::Null) => {
            return (!schema.nullable).then(|| "must not be null".to_string());
        }
        ("string", value) => value.is_string(),
        ("integer", value) => value.is_i64() || value.is_u64(),
        ("number", value) => value.is_number(),
        ("boolean", value) => value.is_boolean(),
        ("object", value) => value.is_object(),
        ("array", Value::Array(items)) => {
            let item = schema.items.as_deref()?;
            return items
                .iter()
                .find_map(|value| refusal(registry, item, value))
                .map(|reason| format!("has an item that {reason}"));
        }
        ("array", _) => false,
        _ => true,
    };
    (!fits).then(|| format!("must be of type {}", schema.ty))
}

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
