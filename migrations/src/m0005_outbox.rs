//! The edge's outbox and snapshot state.
//!
//! - `syncgate_outbox`: every write accepted on an edge, written in the same transaction as the
//!   row, until the drain job has pushed it to the hub (`PENDING` → `SYNCED`, or `ERROR` after
//!   the last try, or `CONFLICT` when the hub kept its own row).
//! - `syncgate_snapshots`: per branch, how far the edge has read the hub's changes feed.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncgateOutbox {
    Table,
    Id,
    OpId,
    TableName,
    RowKey,
    Action,
    Data,
    Subject,
    Branch,
    DeviceId,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    CreatedAt,
    SyncedAt,
}

#[derive(DeriveIden)]
enum SyncgateSnapshots {
    Table,
    Branch,
    Cursor,
    LastSnapshotAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use SyncgateOutbox as O;
        manager
            .create_table(
                Table::create()
                    .table(O::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(O::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    // The op id the hub deduplicates retries by.
                    .col(
                        ColumnDef::new(O::OpId)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(O::TableName).string_len(128).not_null())
                    .col(ColumnDef::new(O::RowKey).text().not_null())
                    // upsert | delete
                    .col(ColumnDef::new(O::Action).string_len(16).not_null())
                    // JSON of the row as written.
                    .col(ColumnDef::new(O::Data).text().not_null())
                    .col(ColumnDef::new(O::Subject).string_len(200).not_null())
                    .col(ColumnDef::new(O::Branch).string_len(200))
                    .col(ColumnDef::new(O::DeviceId).string_len(200).not_null())
                    // PENDING | SYNCED | ERROR | CONFLICT
                    .col(ColumnDef::new(O::Status).string_len(16).not_null())
                    .col(
                        ColumnDef::new(O::Attempts)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    // Unix milliseconds.
                    .col(ColumnDef::new(O::NextAttemptAt).big_integer().not_null())
                    .col(ColumnDef::new(O::LeaseUntil).big_integer())
                    .col(ColumnDef::new(O::LastError).text())
                    .col(ColumnDef::new(O::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(O::SyncedAt).big_integer())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("syncgate_outbox_status")
                    .table(O::Table)
                    .col(O::Status)
                    .col(O::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SyncgateSnapshots::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SyncgateSnapshots::Branch)
                            .string_len(200)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SyncgateSnapshots::Cursor)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SyncgateSnapshots::LastSnapshotAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SyncgateSnapshots::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SyncgateOutbox::Table).to_owned())
            .await
    }
}
