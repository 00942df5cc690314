//! Device token lifetimes: `syncgate_devices.token_expires_at`, Unix milliseconds after which
//! the device's token no longer authenticates (`devices.token_ttl` after it was issued). Devices
//! registered before this migration have none until the gateway starts and gives them one.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncgateDevices {
    Table,
    TokenExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SyncgateDevices::Table)
                    .add_column(
                        ColumnDef::new(SyncgateDevices::TokenExpiresAt)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SyncgateDevices::Table)
                    .drop_column(SyncgateDevices::TokenExpiresAt)
                    .to_owned(),
            )
            .await
    }
}
