//! `syncgate_tables`: what the gateway last applied to the database for each schema table.
//!
//! The physical column types cannot tell every declared type apart (on SQLite a uuid, a timestamp
//! and an enum are all TEXT), so the declared layout is recorded here and compared with the schema
//! on every start and by `syncgate check`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncgateTables {
    Table,
    Name,
    PrimaryKey,
    Columns,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SyncgateTables::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SyncgateTables::Name)
                            .string_len(128)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SyncgateTables::PrimaryKey)
                            .string_len(128)
                            .not_null(),
                    )
                    // JSON object: column name -> declared type name.
                    .col(ColumnDef::new(SyncgateTables::Columns).text().not_null())
                    .col(
                        ColumnDef::new(SyncgateTables::UpdatedAt)
                            .string_len(40)
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SyncgateTables::Table).to_owned())
            .await
    }
}
