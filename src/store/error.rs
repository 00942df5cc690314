//! Storage failures, each with what the operator can do about it.

use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot connect to the database at {url}: {reason}. Check that the database server is \
         running and reachable, and that `[database] url` in the config (or the \
         SYNCGATE_DATABASE__URL environment variable) is right"
    )]
    Connect { url: String, reason: String },
    #[error(
        "cannot create the directory {dir} for the SQLite database: {reason}. Point \
         `[database] url` at a writable location"
    )]
    CreateDir { dir: String, reason: String },
    #[error("applying the system table migrations failed: {0}")]
    Migrate(DbErr),
    #[error("{}", describe_refusals(.0))]
    UnsafeSchemaChange(Vec<String>),
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

fn describe_refusals(refusals: &[String]) -> String {
    let mut text = format!(
        "the schema differs from the database in {} way{} that could lose data, so nothing was \
         changed:",
        refusals.len(),
        if refusals.len() == 1 { "" } else { "s" }
    );
    for refusal in refusals {
        text.push_str("\n  - ");
        text.push_str(refusal);
    }
    text
}
