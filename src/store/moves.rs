//! Row moves (`syncgate_moves`): a write that changes a row's scope columns records the values
//! they had before, at the write's feed position. A reader whose scope admitted the old values
//! and who cannot read the row now is owed a removal at that position: the row left its view.
//!
//! Readers who can read the row after the write need nothing from here: the write gave the row a
//! new feed position, so they read it as an ordinary change (a move-in).

use super::RowScope;
use super::ddl::{bind_value, quote, sql_type};
use super::rows::push_scope_filter;
use super::sql::SqlBuilder;
use crate::schema::TableDef;
use crate::schema::model::ColumnType;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use serde_json::{Map, Value};

/// A move to record with its write.
#[derive(Debug, Clone)]
pub struct NewMove {
    /// The feed position of the write that moved the row.
    pub seq: i64,
    pub table: String,
    pub key: Value,
    /// The row's version after the write.
    pub version: i64,
    /// The scope columns' values before the write.
    pub old_scope: Map<String, Value>,
}

/// A removal owed to a reader: the row `key` left its view at `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct Removal {
    pub seq: i64,
    pub key: Value,
    pub version: i64,
}

/// Records the moves of one write transaction.
pub async fn record_many(db: &impl ConnectionTrait, moves: &[NewMove]) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    for chunk in moves.chunks(500) {
        let mut sql = SqlBuilder::new(backend);
        sql.push(
            "INSERT INTO syncgate_moves (seq, table_name, row_key, version, old_scope) VALUES ",
        );
        for (index, moved) in chunk.iter().enumerate() {
            sql.push(if index == 0 { "(" } else { ", (" });
            sql.bind_list([
                sea_orm::Value::BigInt(Some(moved.seq)),
                sea_orm::Value::String(Some(moved.table.clone())),
                sea_orm::Value::String(Some(key_text(&moved.key))),
                sea_orm::Value::BigInt(Some(moved.version)),
                sea_orm::Value::String(Some(Value::Object(moved.old_scope.clone()).to_string())),
            ])
            .push(")");
        }
        db.execute_raw(sql.build()).await?;
    }
    Ok(())
}

/// The removals owed to a reader with `scope` in `table` after `after_seq`, in feed order, at
/// most `limit`: moves whose old values `scope` admitted, of rows `scope` does not admit now.
pub async fn removals(
    db: &impl ConnectionTrait,
    table: &TableDef,
    scope: &RowScope,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<Removal>, DbErr> {
    // A reader of every row never loses one; a reader of none never had one.
    if !matches!(scope, RowScope::Equals { value: Some(_), .. }) {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let pk = &table.spec.primary_key;
    let pk_kind = table.spec.columns[pk].kind;
    let mut sql = SqlBuilder::new(backend);
    sql.push("SELECT m.seq, m.row_key, m.version FROM syncgate_moves m WHERE m.table_name = ")
        .bind(sea_orm::Value::String(Some(table.name.clone())), None)
        .push(" AND m.seq > ")
        .bind(sea_orm::Value::BigInt(Some(after_seq)), None)
        .push(" AND ");
    push_old_scope_filter(&mut sql, table, scope, "m");
    // Of the moves out of this reader's scope, the key's last: a row that left the reader's view
    // twice (a change inside the view, then a move out of it) is removed once.
    sql.push(
        " AND NOT EXISTS (SELECT 1 FROM syncgate_moves later WHERE later.table_name = \
         m.table_name AND later.row_key = m.row_key AND later.seq > m.seq AND ",
    );
    push_old_scope_filter(&mut sql, table, scope, "later");
    sql.push(")");
    sql.push(&format!(
        " AND NOT EXISTS (SELECT 1 FROM {} WHERE {} = CAST(m.row_key AS {}) AND ",
        quote(&table.name),
        quote(pk),
        sql_type(backend, pk_kind)
    ));
    push_scope_filter(&mut sql, table, scope);
    sql.push(&format!(") ORDER BY m.seq LIMIT {limit}"));
    db.query_all_raw(sql.build())
        .await?
        .iter()
        .map(|row| {
            let key: String = row.try_get("", "row_key")?;
            Ok(Removal {
                seq: row.try_get("", "seq")?,
                key: key_value(&key, pk_kind),
                version: row.try_get("", "version")?,
            })
        })
        .collect()
}

/// Whether the old scope values (`{alias}.old_scope`, a JSON object) satisfy `scope`: the test
/// of [`push_scope_filter`], made on the recorded values instead of the row's columns.
fn push_old_scope_filter(sql: &mut SqlBuilder, table: &TableDef, scope: &RowScope, alias: &str) {
    let RowScope::Equals {
        column,
        value: Some(value),
        assignees,
    } = scope
    else {
        sql.push(if *scope == RowScope::All {
            "1 = 1"
        } else {
            "1 = 0"
        });
        return;
    };
    let postgres = sql.backend == DbBackend::Postgres;
    let json_text = |value: &Value| sea_orm::Value::String(Some(value.to_string()));
    sql.push("(");
    if postgres {
        sql.push(&format!(
            "CAST({alias}.old_scope AS jsonb) -> '{column}' = "
        ))
        .bind(json_text(value), Some("jsonb"));
    } else {
        let (bound, _) = bind_value(sql.backend, table.spec.columns[column].kind, value);
        sql.push(&format!("json_extract({alias}.old_scope, '$.{column}') = "))
            .bind(bound, None);
    }
    if let Some(assignees) = assignees {
        if postgres {
            sql.push(&format!(
                " OR CAST({alias}.old_scope AS jsonb) -> '{assignees}' @> "
            ))
            .bind(json_text(&Value::Array(vec![value.clone()])), Some("jsonb"));
        } else {
            let (bound, _) = bind_value(sql.backend, table.spec.columns[column].kind, value);
            sql.push(&format!(
                " OR EXISTS (SELECT 1 FROM json_each({alias}.old_scope, '$.{assignees}') \
                 WHERE json_each.value = "
            ))
            .bind(bound, None)
            .push(")");
        }
    }
    sql.push(")");
}

/// A key as stored: a string's text, or a number's digits, so that it casts to the key column.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn key_value(text: &str, kind: ColumnType) -> Value {
    match kind {
        ColumnType::Integer => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.to_string())),
        _ => Value::String(text.to_string()),
    }
}
