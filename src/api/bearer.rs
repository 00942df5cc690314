//! The bearer-token security scheme: documents `Authorization: Bearer <JWT>` in the OpenAPI
//! document and turns a verified token into a [`Caller`].

use super::error::ApiError;
use crate::api::AppState;
use crate::auth::{AuthError, Caller};
use crate::sync::devices::{self, DeviceToken, TOKEN_PREFIX};
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use std::sync::Arc;
use tracing::Instrument;

/// A JWT with the claims `sub`, `role`, `branch` (optional) and `exp`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Caller);

async fn check_bearer(request: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let state = state_of(request)?;
    let caller = match super::anonymous::caller(request) {
        Some(anonymous) => checked_role(state, anonymous)?,
        None => caller_for(state, &bearer.token).await?,
    };
    super::request_span::note_caller(request, &caller);
    Ok(caller)
}

/// Authenticates a request from its `Authorization` header (for hand-written endpoints).
pub async fn authenticate(request: &Request) -> Result<Caller, ApiError> {
    let state = state_of(request)?;
    if let Some(anonymous) = super::anonymous::caller(request) {
        let caller = checked_role(state, anonymous)?;
        super::request_span::note_caller(request, &caller);
        return Ok(caller);
    }
    let header = request
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or(AuthError::Missing)?;
    let token = crate::auth::bearer_token(header).ok_or(AuthError::Missing)?;
    let caller = caller_for(state, token).await?;
    super::request_span::note_caller(request, &caller);
    Ok(caller)
}

/// A device token (`sgd_…`) acts as its device's user and marks the device as seen; anything
/// else must be a JWT. Either way the role must be one the schema declares: a token with any
/// other role may do nothing.
async fn caller_for(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let caller = verified_caller(state, token)
        .instrument(tracing::info_span!("auth"))
        .await?;
    let caller = checked_role(state, caller)?;
    if let Some(device) = &caller.device_id {
        state.activity.mark(device, &caller.subject);
    }
    Ok(caller)
}

/// The caller, when the schema being served declares its role: any other role may do nothing.
fn checked_role(state: &AppState, caller: Caller) -> Result<Caller, ApiError> {
    if !state.schema().roles.contains_key(&caller.role) {
        return Err(crate::sync::SyncError::Forbidden(format!(
            "the role `{}` in your token is not declared in the sync schema, so it may do \
             nothing",
            caller.role
        ))
        .into());
    }
    Ok(caller)
}

async fn verified_caller(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    if token.starts_with(TOKEN_PREFIX) {
        return match devices::authenticate(&state.db, token).await? {
            DeviceToken::Valid(caller) => Ok(*caller),
            DeviceToken::Unknown => Err(AuthError::Invalid(
                "unknown device token (regenerated, revoked, or its device was deleted)".into(),
            )
            .into()),
            DeviceToken::Expired(at) => Err(AuthError::Invalid(format!(
                "the device token expired at {}; a device refreshes its token with \
                 `POST /sync/devices/{{id}}/token` before then, or gets a new one with its \
                 user's JWT",
                crate::schema::values::format_timestamp(
                    chrono::DateTime::from_timestamp_millis(at).unwrap_or_default()
                )
            ))
            .into()),
        };
    }
    let claims = state.authenticator.verify(token)?;
    Ok(Caller::from_claims(claims))
}

pub(super) fn state_of(request: &Request) -> Result<&Arc<AppState>, ApiError> {
    request.data::<Arc<AppState>>().ok_or_else(|| {
        ApiError::new(
            poem::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the gateway state is missing",
        )
    })
}
