//! Storage: connecting (SQLite or PostgreSQL through sea-orm), the gateway's system tables
//! (migrations), and the physical tables behind the sync schema.

pub mod conflicts;
mod connect;
mod ddl;
pub mod devices;
mod error;
pub mod external;
pub mod feed;
pub mod feed_listener;
mod file_lock;
pub mod files;
pub mod gauges;
mod introspect;
pub mod job_leases;
mod migrate;
pub mod moves;
pub mod op_records;
pub mod outbox;
pub mod planner_stats;
mod reconcile;
pub mod row_json;
pub mod row_query;
pub mod row_scope;
pub mod rows;
pub mod snapshots;
mod sql;
pub mod sqlite_memory;
pub mod wal_checkpoint;
pub mod webhooks;
mod write_turn;

pub use connect::connect;
pub use error::StoreError;
pub use file_lock::FileLock;
pub use migrate::{migrate, pending_migrations};
pub use reconcile::{Plan, TableChange, plan, reconcile};
pub use row_scope::RowScope;
