//! Rows matching a filter on declared columns within a scope: hook scripts' `query`. Each
//! condition compares a column with a value of the column's type; on SQLite, decimals (stored
//! as text) compare as numbers and timestamps as instants.

use super::RowScope;
use super::ddl::{bind_value, quote};
use super::rows::{StoredRow, decode, push_scope_filter, select_list};
use super::sql::SqlBuilder;
use crate::schema::TableDef;
use crate::schema::model::ColumnType;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Compare {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "eq" => Compare::Eq,
            "ne" => Compare::Ne,
            "lt" => Compare::Lt,
            "lte" => Compare::Lte,
            "gt" => Compare::Gt,
            "gte" => Compare::Gte,
            _ => return None,
        })
    }

    fn sql(self) -> &'static str {
        match self {
            Compare::Eq => "=",
            Compare::Ne => "<>",
            Compare::Lt => "<",
            Compare::Lte => "<=",
            Compare::Gt => ">",
            Compare::Gte => ">=",
        }
    }
}

/// `column compare value`; a null value only with `Eq` (is null) or `Ne` (is not null).
#[derive(Debug, Clone)]
pub struct Condition {
    pub column: String,
    pub kind: ColumnType,
    pub compare: Compare,
    pub value: Value,
}

/// Live rows of `table` within `scope` that meet every condition, by primary key, at most
/// `limit`.
pub async fn matching(
    db: &impl ConnectionTrait,
    table: &TableDef,
    scope: &RowScope,
    conditions: &[Condition],
    limit: u64,
) -> Result<Vec<StoredRow>, DbErr> {
    let backend = db.get_database_backend();
    let mut sql = SqlBuilder::new(backend);
    sql.push(&format!(
        "SELECT {} FROM {} WHERE \"_sg_deleted\" = ",
        select_list(backend, table),
        quote(&table.name)
    ));
    sql.bind(sea_orm::Value::Bool(Some(false)), None);
    sql.push(" AND ");
    push_scope_filter(&mut sql, scope);
    for condition in conditions {
        sql.push(" AND ");
        push_condition(&mut sql, condition);
    }
    sql.push(&format!(
        " ORDER BY {} LIMIT {limit}",
        quote(&table.spec.primary_key)
    ));
    let found = db.query_all_raw(sql.build()).await?;
    found
        .iter()
        .map(|row| decode(backend, table, row))
        .collect()
}

fn push_condition(sql: &mut SqlBuilder, condition: &Condition) {
    let column = quote(&condition.column);
    if condition.value.is_null() {
        let test = if condition.compare == Compare::Ne {
            "IS NOT NULL"
        } else {
            "IS NULL"
        };
        sql.push(&format!("{column} {test}"));
        return;
    }
    let (bound, cast) = bind_value(sql.backend, condition.kind, &condition.value);
    let sqlite = sql.backend == DbBackend::Sqlite;
    let (left, open, close) = match condition.kind {
        ColumnType::Decimal if sqlite => (format!("CAST({column} AS REAL)"), "CAST(", " AS REAL)"),
        ColumnType::Timestamp if sqlite => (format!("julianday({column})"), "julianday(", ")"),
        _ => (column, "", ""),
    };
    sql.push(&format!("{left} {} {open}", condition.compare.sql()))
        .bind(bound, cast)
        .push(close);
}
