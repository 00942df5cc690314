//! Op records scoped to their caller, holding what a replay needs and no copy of the row.
//!
//! - `syncgate_op_records`: the first outcome of each `(subject, device_id, op_id)`: the table,
//!   the row's key, the status (`applied` or `conflict`), the version and tombstone flag, the
//!   conflict details when there was one, and a fingerprint of the operation, so that reusing an
//!   op id for a different change is refused instead of answered as a replay.
//!
//! It replaces `syncgate_ops`, whose records were keyed by `(device_id, op_id)` alone, so any
//! caller could replay (and read the row of) another user's operation. Old records cannot be
//! given an owner and are dropped: an operation pushed before the upgrade and retried after it
//! is applied again under the table's conflict rules.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncgateOpRecords {
    Table,
    Subject,
    DeviceId,
    OpId,
    TableName,
    RowKey,
    Status,
    Version,
    Deleted,
    Conflict,
    Fingerprint,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SyncgateOpRecords::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SyncgateOpRecords::Subject)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SyncgateOpRecords::DeviceId)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SyncgateOpRecords::OpId)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SyncgateOpRecords::TableName)
                            .string_len(128)
                            .not_null(),
                    )
                    // JSON of the row's primary key value.
                    .col(ColumnDef::new(SyncgateOpRecords::RowKey).text().not_null())
                    .col(
                        ColumnDef::new(SyncgateOpRecords::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SyncgateOpRecords::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SyncgateOpRecords::Deleted)
                            .boolean()
                            .not_null(),
                    )
                    // JSON of the conflict details, when the outcome was a conflict.
                    .col(ColumnDef::new(SyncgateOpRecords::Conflict).text().null())
                    .col(
                        ColumnDef::new(SyncgateOpRecords::Fingerprint)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SyncgateOpRecords::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    // The op id leads: a batch looks its op ids up with `op_id IN (...)`, and
                    // PostgreSQL uses a leading column's list as an index condition even
                    // before the table has statistics (with subject and device first, a
                    // freshly grown table was scanned device by device: 10 ms per push).
                    .primary_key(
                        Index::create()
                            .col(SyncgateOpRecords::OpId)
                            .col(SyncgateOpRecords::Subject)
                            .col(SyncgateOpRecords::DeviceId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("syncgate_ops"))
                    .if_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SyncgateOpRecords::Table).to_owned())
            .await
    }
}
