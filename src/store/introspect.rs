//! What a table looks like in the database now: its columns, their reported types, its primary
//! key, and what the gateway recorded when it last applied the schema.

use indexmap::IndexMap;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use serde::{Deserialize, Serialize};

/// A table as the database reports it; `None` from [`physical_table`] when it does not exist.
#[derive(Debug, Clone, Default)]
pub struct PhysicalTable {
    /// Column name → reported type, lowercase.
    pub columns: IndexMap<String, String>,
    pub primary_key: Vec<String>,
}

pub async fn physical_table(
    db: &impl ConnectionTrait,
    table: &str,
) -> Result<Option<PhysicalTable>, DbErr> {
    let backend = db.get_database_backend();
    let (columns_sql, key_sql) = match backend {
        DbBackend::Postgres => (
            "SELECT column_name AS name, data_type AS type FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            "SELECT kcu.column_name AS name FROM information_schema.table_constraints tc \
             JOIN information_schema.key_column_usage kcu \
               ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema \
             WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema() \
               AND tc.table_name = $1 ORDER BY kcu.ordinal_position",
        ),
        _ => (
            "SELECT name, type FROM pragma_table_info(?) ORDER BY cid",
            "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk",
        ),
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            columns_sql,
            [table.into()],
        ))
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut physical = PhysicalTable::default();
    for row in rows {
        let name: String = row.try_get("", "name")?;
        let sql_type: String = row.try_get("", "type")?;
        physical.columns.insert(name, sql_type.to_lowercase());
    }
    for row in db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            key_sql,
            [table.into()],
        ))
        .await?
    {
        physical.primary_key.push(row.try_get("", "name")?);
    }
    Ok(Some(physical))
}

/// The declared layout the gateway last applied, from `syncgate_tables`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordedTable {
    pub primary_key: String,
    pub columns: IndexMap<String, RecordedColumn>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedColumn {
    #[serde(rename = "type")]
    pub kind: String,
    pub nullable: bool,
}

pub async fn recorded_tables(
    db: &impl ConnectionTrait,
) -> Result<IndexMap<String, RecordedTable>, DbErr> {
    let backend = db.get_database_backend();
    // Before the first migration (e.g. `syncgate check` against a new database) nothing is recorded.
    if physical_table(db, "syncgate_tables").await?.is_none() {
        return Ok(IndexMap::new());
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT name, primary_key, columns FROM syncgate_tables ORDER BY name",
        ))
        .await?;
    let mut recorded = IndexMap::new();
    for row in rows {
        let name: String = row.try_get("", "name")?;
        let columns: String = row.try_get("", "columns")?;
        let columns = serde_json::from_str(&columns).map_err(|error| {
            DbErr::Custom(format!(
                "syncgate_tables row `{name}` holds unreadable columns: {error}"
            ))
        })?;
        recorded.insert(
            name,
            RecordedTable {
                primary_key: row.try_get("", "primary_key")?,
                columns,
            },
        );
    }
    Ok(recorded)
}

/// Rows of `table` where `column` is null (tombstones included: they come back if undeleted).
pub async fn count_nulls(
    db: &impl ConnectionTrait,
    table: &str,
    column: Option<&str>,
) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let filter = column
        .map(|column| format!(" WHERE \"{column}\" IS NULL"))
        .unwrap_or_default();
    let sql = format!("SELECT COUNT(*) AS n FROM \"{table}\"{filter}");
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| DbErr::Custom("COUNT returned no row".into()))?;
    row.try_get("", "n")
}
