//! The sync core's system tables.
//!
//! - `syncgate_sequence`: the changes feed's counter. Every write transaction locks its row
//!   first, so feed positions are handed out in commit order and a reader never skips one.
//! - `syncgate_ops`: the first result of each `(device_id, op_id)`, so a replayed operation
//!   returns it and writes nothing.
//! - `syncgate_conflicts`: conflicts of tables with `conflict = "manual"`, until resolved.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncgateSequence {
    Table,
    Name,
    Value,
}

#[derive(DeriveIden)]
enum SyncgateOps {
    Table,
    DeviceId,
    OpId,
    Result,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SyncgateConflicts {
    Table,
    Id,
    TableName,
    RowKey,
    ServerRow,
    ClientRow,
    ServerVersion,
    BaseVersion,
    DeviceId,
    Subject,
    Status,
    Resolution,
    ResolvedBy,
    CreatedAt,
    ResolvedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SyncgateSequence::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SyncgateSequence::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SyncgateSequence::Value)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(SyncgateSequence::Table)
                    .columns([SyncgateSequence::Name, SyncgateSequence::Value])
                    .values_panic(["feed".into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SyncgateOps::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SyncgateOps::DeviceId)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(ColumnDef::new(SyncgateOps::OpId).string_len(200).not_null())
                    // JSON of the operation's first result.
                    .col(ColumnDef::new(SyncgateOps::Result).text().not_null())
                    .col(
                        ColumnDef::new(SyncgateOps::CreatedAt)
                            .string_len(40)
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(SyncgateOps::DeviceId)
                            .col(SyncgateOps::OpId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SyncgateConflicts::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SyncgateConflicts::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SyncgateConflicts::TableName)
                            .string_len(128)
                            .not_null(),
                    )
                    // JSON of the row's primary key value.
                    .col(ColumnDef::new(SyncgateConflicts::RowKey).text().not_null())
                    .col(
                        ColumnDef::new(SyncgateConflicts::ServerRow)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SyncgateConflicts::ClientRow)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SyncgateConflicts::ServerVersion)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(SyncgateConflicts::BaseVersion).big_integer())
                    .col(
                        ColumnDef::new(SyncgateConflicts::DeviceId)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SyncgateConflicts::Subject)
                            .string_len(200)
                            .not_null(),
                    )
                    // open | resolved
                    .col(
                        ColumnDef::new(SyncgateConflicts::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(SyncgateConflicts::Resolution).string_len(16))
                    .col(ColumnDef::new(SyncgateConflicts::ResolvedBy).string_len(200))
                    .col(
                        ColumnDef::new(SyncgateConflicts::CreatedAt)
                            .string_len(40)
                            .not_null(),
                    )
                    .col(ColumnDef::new(SyncgateConflicts::ResolvedAt).string_len(40))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("syncgate_conflicts_open")
                    .table(SyncgateConflicts::Table)
                    .col(SyncgateConflicts::Status)
                    .col(SyncgateConflicts::TableName)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["syncgate_conflicts", "syncgate_ops", "syncgate_sequence"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
