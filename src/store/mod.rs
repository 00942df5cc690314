//! Storage: connecting (SQLite or PostgreSQL through sea-orm), the gateway's system tables
//! (migrations), and the physical tables behind the sync schema.

mod connect;
mod ddl;
mod error;
mod introspect;
mod migrate;
mod reconcile;

pub use connect::{connect, sqlite_path};
pub use error::StoreError;
pub use migrate::{migrate, pending_migrations};
pub use reconcile::{Plan, TableChange, plan, reconcile};
