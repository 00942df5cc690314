//! `syncgate_devices`: registered devices, their hashed tokens, the identity they act as, when
//! they were last seen and how far they have acknowledged the changes feed.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncgateDevices {
    Table,
    Id,
    Subject,
    Role,
    Claims,
    Name,
    Platform,
    AppVersion,
    TokenHash,
    CreatedAt,
    UpdatedAt,
    LastSeen,
    AckedCursor,
    AckedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SyncgateDevices::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SyncgateDevices::Id)
                            .string_len(200)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SyncgateDevices::Subject)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SyncgateDevices::Role)
                            .string_len(200)
                            .not_null(),
                    )
                    // JSON of the registering token's claims, which the device token acts with.
                    .col(ColumnDef::new(SyncgateDevices::Claims).text().not_null())
                    .col(
                        ColumnDef::new(SyncgateDevices::Name)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SyncgateDevices::Platform)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SyncgateDevices::AppVersion)
                            .string_len(100)
                            .not_null(),
                    )
                    // SHA-256 of the device token, hex.
                    .col(
                        ColumnDef::new(SyncgateDevices::TokenHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(SyncgateDevices::CreatedAt)
                            .string_len(40)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SyncgateDevices::UpdatedAt)
                            .string_len(40)
                            .not_null(),
                    )
                    // Unix milliseconds; null until the device is first seen.
                    .col(ColumnDef::new(SyncgateDevices::LastSeen).big_integer())
                    .col(
                        ColumnDef::new(SyncgateDevices::AckedCursor)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(SyncgateDevices::AckedAt).big_integer())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("syncgate_devices_subject")
                    .table(SyncgateDevices::Table)
                    .col(SyncgateDevices::Subject)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SyncgateDevices::Table).to_owned())
            .await
    }
}
