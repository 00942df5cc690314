//! The bearer-token security scheme: documents `Authorization: Bearer <JWT>` in the OpenAPI
//! document and turns a verified token into a [`Caller`].

use super::error::ApiError;
use crate::auth::Caller;
use crate::server::AppState;
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use std::sync::Arc;

/// A JWT with the claims `sub`, `role`, `branch` (optional) and `exp`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Caller);

async fn check_bearer(request: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let state = state_of(request)?;
    let claims = state
        .authenticator
        .verify(&bearer.token)
        .map_err(ApiError::from)?;
    Ok(Caller::from_claims(claims))
}

/// Authenticates a request from its `Authorization` header (for hand-written endpoints).
pub fn authenticate(request: &Request) -> Result<Caller, ApiError> {
    let state = state_of(request)?;
    let header = request
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let claims = state.authenticator.verify_header(header)?;
    Ok(Caller::from_claims(claims))
}

fn state_of(request: &Request) -> Result<&Arc<AppState>, ApiError> {
    request.data::<Arc<AppState>>().ok_or_else(|| {
        ApiError::new(
            poem::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the gateway state is missing",
        )
    })
}
