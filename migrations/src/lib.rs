//! sea-orm migrations of syncgate's own system tables (every name starts with `syncgate_`).
//!
//! Applied at start-up and by `syncgate migrate`. Add a new `mNNNN_*.rs` file per change and list it
//! in [`Migrator::migrations`]; never edit a migration that has shipped.

pub use sea_orm_migration::prelude::*;

mod m0001_table_registry;
mod m0002_sync_core;
mod m0003_devices;
mod m0004_webhook_deliveries;
mod m0005_outbox;
mod m0006_files;
mod m0007_op_records;
mod m0008_job_leases;
mod m0009_row_moves;
mod m0010_device_token_expiry;
mod m0011_external_changes;
mod m0012_device_pending_upload;

/// Every migration of the gateway's system tables, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_table_registry::Migration),
            Box::new(m0002_sync_core::Migration),
            Box::new(m0003_devices::Migration),
            Box::new(m0004_webhook_deliveries::Migration),
            Box::new(m0005_outbox::Migration),
            Box::new(m0006_files::Migration),
            Box::new(m0007_op_records::Migration),
            Box::new(m0008_job_leases::Migration),
            Box::new(m0009_row_moves::Migration),
            Box::new(m0010_device_token_expiry::Migration),
            Box::new(m0011_external_changes::Migration),
            Box::new(m0012_device_pending_upload::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "syncgate_migrations".into_iden()
    }
}
