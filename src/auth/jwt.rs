//! Verifying and minting JWTs. HS256 with `auth.jwt_secret`; RS256 or ES256 with the public key
//! in `auth.jwt_public_key`. The key is chosen by the token's `alg`; `alg: none` and every other
//! algorithm are refused.

use crate::config::{AuthConfig, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The claims syncgate reads. Other claims are kept for scope rules (`{ column, claim }`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<Value>,
    pub exp: i64,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Verifies tokens with the configured keys.
pub struct Authenticator {
    secret: Option<(DecodingKey, EncodingKey)>,
    public_key: Option<(Algorithm, DecodingKey)>,
    leeway: u64,
}

impl Authenticator {
    /// Builds the verifier; the error names the config key at fault.
    pub fn from_config(config: &AuthConfig) -> Result<Self, String> {
        let secret = config.jwt_secret.as_ref().map(|secret| {
            let bytes = secret.expose().as_bytes();
            (
                DecodingKey::from_secret(bytes),
                EncodingKey::from_secret(bytes),
            )
        });
        let public_key = match &config.jwt_public_key {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|error| {
                    format!(
                        "key `auth.jwt_public_key` = `{}`: cannot read the file: {error}",
                        path.display()
                    )
                })?;
                let (algorithm, key) = match config.jwt_public_key_algorithm {
                    KeyAlgorithm::Rs256 => (Algorithm::RS256, DecodingKey::from_rsa_pem(&pem)),
                    KeyAlgorithm::Es256 => (Algorithm::ES256, DecodingKey::from_ec_pem(&pem)),
                };
                let key = key.map_err(|error| {
                    format!(
                        "key `auth.jwt_public_key` = `{}`: not a PEM public key for {:?}: {error}",
                        path.display(),
                        algorithm
                    )
                })?;
                Some((algorithm, key))
            }
        };
        if secret.is_none() && public_key.is_none() {
            return Err(crate::config::NO_AUTH_KEY.into());
        }
        Ok(Self {
            secret,
            public_key,
            leeway: config.leeway.as_secs(),
        })
    }

    /// Verifies an `Authorization` header value and returns its claims.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Claims, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        self.verify(bearer_token(header).ok_or(AuthError::Missing)?)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            AuthError::Invalid("malformed token, or an algorithm syncgate does not accept".into())
        })?;
        let key = match header.alg {
            Algorithm::HS256 => self.secret.as_ref().map(|(decoding, _)| decoding),
            alg => self
                .public_key
                .as_ref()
                .filter(|(algorithm, _)| *algorithm == alg)
                .map(|(_, key)| key),
        }
        .ok_or_else(|| {
            AuthError::Invalid(format!("algorithm {:?} is not accepted here", header.alg))
        })?;
        // A critical extension must be understood or the token refused (RFC 7515 §4.1.11);
        // syncgate understands none.
        if let Some(crit) = &header.crit {
            return Err(AuthError::Invalid(format!(
                "the token's header marks extensions as critical ({}), which syncgate does not \
                 support",
                crit.join(", ")
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|error| {
                use jsonwebtoken::errors::ErrorKind;
                let reason = match error.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired".to_string(),
                    ErrorKind::ImmatureSignature => "the token is not valid yet (`nbf`)".to_string(),
                    ErrorKind::InvalidSignature => "the signature does not match the configured key".into(),
                    ErrorKind::MissingRequiredClaim(claim) => format!("the `{claim}` claim is missing"),
                    ErrorKind::Json(detail) => format!("the claims are not as expected ({detail}); `sub`, `role` and `exp` are required"),
                    _ => format!("{error}"),
                };
                AuthError::Invalid(reason)
            })
    }

    /// Signs `claims` with the HS256 secret (`syncgate token`, tests).
    pub fn mint(&self, claims: &Claims) -> Result<String, String> {
        let (_, key) = self
            .secret
            .as_ref()
            .ok_or("minting a token needs `auth.jwt_secret`; a public key cannot sign")?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, key).map_err(|e| e.to_string())
    }
}

/// The token of an `Authorization` header value: the `Bearer` scheme, in any letter case
/// (RFC 7235 §2.1), then the token.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
