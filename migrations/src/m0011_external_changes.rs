//! Writes made outside the gateway (`syncgate_external_changes`).
//!
//! Triggers on every synced table append one entry per row that another connection inserted,
//! updated or deleted: the table, the row's key (as text) and, for an update or a delete, the
//! row as it was before (JSON, `NULL` for an insert). The rows are in the changes feed already
//! (the triggers place them); the gateway takes entries out in the transaction that writes what
//! follows a write (an edge's outbox entries, webhook deliveries), so each is done once, also
//! for entries logged while the gateway was down.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncgateExternalChanges {
    Table,
    Id,
    TableName,
    RowKey,
    OldRow,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use SyncgateExternalChanges as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(E::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(E::TableName).text().not_null())
                    .col(ColumnDef::new(E::RowKey).text().not_null())
                    .col(ColumnDef::new(E::OldRow).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(SyncgateExternalChanges::Table)
                    .to_owned(),
            )
            .await
    }
}
