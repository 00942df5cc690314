//! Job leases: which replica runs each scheduled job now.
//!
//! - `syncgate_job_leases`: one row per job name, with the replica holding it and until when.
//!   A replica runs a job only after taking its lease, so replicas sharing one database never run
//!   a job twice at once; a replica that dies mid-run loses the lease when it expires.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncgateJobLeases {
    Table,
    Name,
    Holder,
    LeaseUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SyncgateJobLeases::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SyncgateJobLeases::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SyncgateJobLeases::Holder)
                            .string_len(64)
                            .not_null(),
                    )
                    // Unix milliseconds.
                    .col(
                        ColumnDef::new(SyncgateJobLeases::LeaseUntil)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SyncgateJobLeases::Table).to_owned())
            .await
    }
}
