//! Row moves: where rows left a reader's view.
//!
//! - `syncgate_moves`: one row per write that changed a row's scope columns (its branch, owner,
//!   assignees or a claim rule's column): the feed position of that write, the table, the row's
//!   key (as text), the row's version after the write, and the values deciding its scope before
//!   and after the write (JSON objects: its scope columns, or for a row scoped through a parent,
//!   its chain root's). A reader whose scope admitted the old values, and who cannot read the row
//!   now, is sent a removal at that position; a parent's move tells which readers its rows left
//!   or reached.
//! - `syncgate_devices.acked_cursor_text`: the cursor a device acknowledged, as it sent it
//!   (cursors carry a stamp of the reader's view besides the position in `acked_cursor`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncgateMoves {
    Table,
    Seq,
    TableName,
    RowKey,
    Version,
    OldScope,
    NewScope,
}

#[derive(DeriveIden)]
enum SyncgateDevices {
    Table,
    AckedCursorText,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use SyncgateMoves as M;
        manager
            .create_table(
                Table::create()
                    .table(M::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(M::Seq)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(M::TableName).string_len(128).not_null())
                    .col(ColumnDef::new(M::RowKey).text().not_null())
                    .col(ColumnDef::new(M::Version).big_integer().not_null())
                    .col(ColumnDef::new(M::OldScope).text().not_null())
                    .col(ColumnDef::new(M::NewScope).text().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("syncgate_moves_by_table")
                    .table(M::Table)
                    .col(M::TableName)
                    .col(M::Seq)
                    .to_owned(),
            )
            .await?;
        // The later moves of one row (a reader is sent only the last that concerns it).
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("syncgate_moves_by_row")
                    .table(M::Table)
                    .col(M::TableName)
                    .col(M::RowKey)
                    .col(M::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SyncgateDevices::Table)
                    .add_column(
                        ColumnDef::new(SyncgateDevices::AckedCursorText)
                            .text()
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
                    .drop_column(SyncgateDevices::AckedCursorText)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(SyncgateMoves::Table).to_owned())
            .await
    }
}
