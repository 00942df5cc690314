//! What a device reports of its own queue: `syncgate_devices.pending_upload`, the writes it
//! holds and has not pushed yet, and `pending_upload_at`, when it said so (Unix milliseconds).
//! Both stay NULL until the device first reports (seed 003's "pending" is this direction).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncgateDevices {
    Table,
    PendingUpload,
    PendingUploadAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            SyncgateDevices::PendingUpload,
            SyncgateDevices::PendingUploadAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SyncgateDevices::Table)
                        .add_column(ColumnDef::new(column).big_integer().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            SyncgateDevices::PendingUpload,
            SyncgateDevices::PendingUploadAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SyncgateDevices::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
