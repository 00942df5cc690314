//! Storage: connecting (SQLite or PostgreSQL through sea-orm), the gateway's system tables
//! (migrations), and the physical tables behind the sync schema.

pub mod conflicts;
mod connect;
mod ddl;
pub mod devices;
mod error;
pub mod feed;
mod introspect;
mod migrate;
pub mod ops;
mod reconcile;
pub mod rows;
mod sql;
pub mod webhooks;

pub use connect::{connect, sqlite_path};
pub use error::StoreError;
pub use migrate::{migrate, pending_migrations};
pub use reconcile::{Plan, TableChange, plan, reconcile};
