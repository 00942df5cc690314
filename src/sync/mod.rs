//! The sync core: push with conflict strategies, the changes feed, pull, and the manual
//! conflict queue. It knows nothing of HTTP; `api` maps its results and errors.

mod access;
pub mod activity;
pub mod changes;
pub mod conflicts;
pub mod data;
pub mod devices;
mod error;
pub mod lookup;
pub mod notify;
pub mod pull;
pub mod push;
mod resolve;
pub mod shared_read;
pub mod status;
pub mod stream;
pub mod types;
pub mod write;

pub use access::{Access, access, readable, usable_tables, visible_row};
pub use error::SyncError;
