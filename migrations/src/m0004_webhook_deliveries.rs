//! `syncgate_webhook_deliveries`: `after_commit` webhook calls waiting to be delivered, written
//! in the same transaction as the rows they report, so none is lost.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncgateWebhookDeliveries {
    Table,
    Id,
    Url,
    Body,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    Status,
    LastError,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use SyncgateWebhookDeliveries as D;
        manager
            .create_table(
                Table::create()
                    .table(D::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(D::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(D::Url).text().not_null())
                    .col(ColumnDef::new(D::Body).text().not_null())
                    .col(
                        ColumnDef::new(D::Attempts)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    // Unix milliseconds.
                    .col(ColumnDef::new(D::NextAttemptAt).big_integer().not_null())
                    .col(ColumnDef::new(D::LeaseUntil).big_integer())
                    // pending | delivered | failed
                    .col(ColumnDef::new(D::Status).string_len(16).not_null())
                    .col(ColumnDef::new(D::LastError).text())
                    .col(ColumnDef::new(D::CreatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("syncgate_webhook_deliveries_due")
                    .table(D::Table)
                    .col(D::Status)
                    .col(D::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(SyncgateWebhookDeliveries::Table)
                    .to_owned(),
            )
            .await
    }
}
