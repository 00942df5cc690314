//! Files of `file` columns and resumable upload sessions.
//!
//! - `syncgate_files`: one row per stored file (attachment): which row and column it was
//!   attached to, its media type, size and SHA-256, and where its bytes are.
//! - `syncgate_uploads`: chunked upload sessions until they complete, are cancelled or expire.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncgateFiles {
    Table,
    Id,
    TableName,
    RowKey,
    Field,
    MediaType,
    Size,
    Sha256,
    Subject,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SyncgateUploads {
    Table,
    Id,
    Subject,
    TableName,
    RowKey,
    Field,
    Size,
    ChunkSize,
    Sha256,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use SyncgateFiles as F;
        use SyncgateUploads as U;
        manager
            .create_table(
                Table::create()
                    .table(F::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(F::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(F::TableName).string_len(128).not_null())
                    .col(ColumnDef::new(F::RowKey).text().not_null())
                    .col(ColumnDef::new(F::Field).string_len(128).not_null())
                    .col(ColumnDef::new(F::MediaType).string_len(200).not_null())
                    .col(ColumnDef::new(F::Size).big_integer().not_null())
                    .col(ColumnDef::new(F::Sha256).string_len(64).not_null())
                    .col(ColumnDef::new(F::Subject).string_len(200).not_null())
                    .col(ColumnDef::new(F::CreatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(U::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(U::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(U::Subject).string_len(200).not_null())
                    .col(ColumnDef::new(U::TableName).string_len(128).not_null())
                    .col(ColumnDef::new(U::RowKey).text().not_null())
                    .col(ColumnDef::new(U::Field).string_len(128).not_null())
                    .col(ColumnDef::new(U::Size).big_integer().not_null())
                    .col(ColumnDef::new(U::ChunkSize).big_integer().not_null())
                    .col(ColumnDef::new(U::Sha256).string_len(64).not_null())
                    .col(ColumnDef::new(U::CreatedAt).big_integer().not_null())
                    // Unix milliseconds.
                    .col(ColumnDef::new(U::ExpiresAt).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SyncgateUploads::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SyncgateFiles::Table).to_owned())
            .await
    }
}
