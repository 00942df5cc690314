//! Who is calling: bearer JWTs verified with the configured key, the caller's role and claims,
//! and the rows that role may reach.

mod caller;
mod jwt;

pub use caller::Caller;
pub use jwt::{AuthError, Authenticator, Claims, bearer_token};
