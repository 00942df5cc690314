//! Row moves (`syncgate_moves`): a write that changes a row's scope columns records the values
//! that decide its scope before and after the write, at the write's feed position. A reader whose
//! scope admitted the old values and who cannot read the row now is owed a removal at that
//! position: the row left its view.
//!
//! Readers who can read the row after the write need nothing from here: the write gave the row a
//! new feed position, so they read it as an ordinary change (a move-in).
//!
//! A table scoped through a parent (`scope_from`) records, for its own moves, the values of its
//! chain's root (the parent that has the scope columns) as they were through the old parent and
//! are through the new one. Its rows also move when a parent moves, without being written: for
//! each parent move that changed what a reader reaches, [`through_parents`] finds the rows under
//! that parent, by the index on the parent column.

use super::RowScope;
use super::ddl::{bind_value, quote, sql_type};
use super::row_scope::ParentScope;
use super::rows::{StoredRow, decode, push_scope_filter, push_values, select_list};
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
    /// The values deciding the row's scope before the write: its scope columns, or for a row
    /// scoped through a parent, the scope columns of its chain's root.
    pub old_scope: Map<String, Value>,
    /// The same values after the write.
    pub new_scope: Map<String, Value>,
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
            "INSERT INTO syncgate_moves (seq, table_name, row_key, version, old_scope, \
             new_scope) VALUES ",
        );
        for (index, moved) in chunk.iter().enumerate() {
            sql.push(if index == 0 { "(" } else { ", (" });
            sql.bind_list([
                sea_orm::Value::BigInt(Some(moved.seq)),
                sea_orm::Value::String(Some(moved.table.clone())),
                sea_orm::Value::String(Some(key_text(&moved.key))),
                sea_orm::Value::BigInt(Some(moved.version)),
                sea_orm::Value::String(Some(Value::Object(moved.old_scope.clone()).to_string())),
                sea_orm::Value::String(Some(Value::Object(moved.new_scope.clone()).to_string())),
            ])
            .push(")");
        }
        db.execute_raw(sql.build()).await?;
    }
    Ok(())
}

/// Which feed positions a read of moves covers: after `after`, up to `upto` when the page cannot
/// reach further (its rows already fill it), at most `limit` moves.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub after: i64,
    pub upto: Option<i64>,
    pub limit: u64,
}

impl Span {
    fn push(&self, sql: &mut SqlBuilder) {
        sql.push(" AND m.seq > ")
            .bind(sea_orm::Value::BigInt(Some(self.after)), None);
        if let Some(upto) = self.upto {
            sql.push(" AND m.seq <= ")
                .bind(sea_orm::Value::BigInt(Some(upto)), None);
        }
    }
}

/// The removals owed to a reader with `scope` in `table` within `span`, in feed order: moves
/// whose old values `scope` admitted, of rows `scope` does not admit now.
pub async fn removals(
    db: &impl ConnectionTrait,
    table: &TableDef,
    scope: &RowScope,
    span: Span,
) -> Result<Vec<Removal>, DbErr> {
    // A reader of every row never loses one; a reader of none never had one.
    let root = scope.root();
    if !matches!(root, RowScope::Equals { value: Some(_), .. }) {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let pk = &table.spec.primary_key;
    let pk_kind = table.spec.columns[pk].kind;
    // The two tests per move are subqueries in the select list, so that they run per move read
    // (a few per page): as `NOT EXISTS` in the WHERE clause, PostgreSQL planned them as
    // anti-joins that read the whole table on every page.
    let mut sql = SqlBuilder::new(backend);
    sql.push("SELECT seq, row_key, version FROM (SELECT m.seq, m.row_key, m.version, ");
    // Of the moves out of this reader's scope, the key's last: a row that left the reader's view
    // twice (a change inside the view, then a move out of it) is removed once.
    sql.push(
        "(SELECT 1 FROM syncgate_moves later WHERE later.table_name = m.table_name \
         AND later.row_key = m.row_key AND later.seq > m.seq AND ",
    );
    push_recorded_filter(&mut sql, root, "later.old_scope");
    sql.push(" LIMIT 1) AS left_later, ");
    sql.push(&format!(
        "(SELECT 1 FROM {} WHERE {} = CAST(m.row_key AS {}) AND ",
        quote(&table.name),
        quote(pk),
        sql_type(backend, pk_kind)
    ));
    push_scope_filter(&mut sql, scope);
    sql.push(" LIMIT 1) AS still_in FROM syncgate_moves m WHERE m.table_name = ")
        .bind(sea_orm::Value::String(Some(table.name.clone())), None);
    span.push(&mut sql);
    sql.push(" AND ");
    push_recorded_filter(&mut sql, root, "m.old_scope");
    sql.push(&format!(
        ") moved WHERE left_later IS NULL AND still_in IS NULL ORDER BY seq LIMIT {}",
        span.limit
    ));
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

/// Whether recorded scope values (`json`, a column holding a JSON object) satisfy `scope`: the
/// test of [`push_scope_filter`], made on the recorded values instead of the row's columns.
fn push_recorded_filter(sql: &mut SqlBuilder, scope: &RowScope, json: &str) {
    let RowScope::Equals {
        column,
        kind,
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
        sql.push(&format!("CAST({json} AS jsonb) -> '{column}' = "))
            .bind(json_text(value), Some("jsonb"));
    } else {
        let (bound, _) = bind_value(sql.backend, *kind, value);
        sql.push(&format!("json_extract({json}, '$.{column}') = "))
            .bind(bound, None);
    }
    if let Some(assignees) = assignees {
        if postgres {
            sql.push(&format!(" OR CAST({json} AS jsonb) -> '{assignees}' @> "))
                .bind(json_text(&Value::Array(vec![value.clone()])), Some("jsonb"));
        } else {
            let (bound, _) = bind_value(sql.backend, *kind, value);
            sql.push(&format!(
                " OR EXISTS (SELECT 1 FROM json_each({json}, '$.{assignees}') \
                 WHERE json_each.value = "
            ))
            .bind(bound, None)
            .push(")");
        }
    }
    sql.push(")");
}

/// A parent's move that changed whether a reader reaches it, with what it did to the rows under
/// that parent.
#[derive(Debug)]
pub struct ParentMove {
    pub seq: i64,
    /// The rows the reader reaches now that it did not before (current values).
    pub entered: Vec<StoredRow>,
    /// The rows the reader reached before and does not now.
    pub left: Vec<Removal>,
}

/// The moves of `table`'s parents after `after_seq` that took rows of `table` into or out of the
/// view of a reader with `scope`, at most `limit` moves, in feed order, each with all its rows.
/// Empty for a table not scoped through a parent.
pub async fn through_parents(
    db: &impl ConnectionTrait,
    table: &TableDef,
    scope: &RowScope,
    span: Span,
) -> Result<Vec<ParentMove>, DbErr> {
    let root = scope.root();
    if !matches!(root, RowScope::Equals { value: Some(_), .. }) {
        return Ok(Vec::new());
    }
    let mut chain: Vec<&ParentScope> = Vec::new();
    let mut level = scope;
    while let RowScope::Parent(parent) = level {
        chain.push(parent);
        level = &parent.scope;
    }
    let backend = db.get_database_backend();
    let mut found = Vec::new();
    for depth in 1..=chain.len() {
        let parent = chain[depth - 1];
        let mut sql = SqlBuilder::new(backend);
        sql.push("SELECT m.seq, m.row_key, CASE WHEN ");
        push_recorded_filter(&mut sql, root, "m.new_scope");
        sql.push(" THEN 1 ELSE 0 END AS entered FROM syncgate_moves m WHERE m.table_name = ")
            .bind(sea_orm::Value::String(Some(parent.table.clone())), None);
        span.push(&mut sql);
        sql.push(" AND (CASE WHEN ");
        push_recorded_filter(&mut sql, root, "m.old_scope");
        sql.push(" THEN 1 ELSE 0 END) <> (CASE WHEN ");
        push_recorded_filter(&mut sql, root, "m.new_scope");
        sql.push(&format!(
            " THEN 1 ELSE 0 END) ORDER BY m.seq LIMIT {}",
            span.limit
        ));
        for moved in db.query_all_raw(sql.build()).await? {
            let seq: i64 = moved.try_get("", "seq")?;
            let key: String = moved.try_get("", "row_key")?;
            let entered: i32 = moved.try_get("", "entered")?;
            let key = key_value(&key, parent.key_kind);
            let rows = under_parent(db, table, scope, &chain[..depth], &key, entered == 1).await?;
            let (entered, left) = if entered == 1 {
                (rows, Vec::new())
            } else {
                let left = rows
                    .into_iter()
                    .map(|row| Removal {
                        seq,
                        key: row.values[&table.spec.primary_key].clone(),
                        version: row.version,
                    })
                    .collect();
                (Vec::new(), left)
            };
            found.push(ParentMove { seq, entered, left });
        }
    }
    found.sort_by_key(|moved| moved.seq);
    found.truncate(span.limit as usize);
    Ok(found)
}

/// The rows of `table` under the ancestor `key` at the end of `chain` (tombstones included, so a
/// deleted row a reader held leaves too), those the reader reaches now when `reached`, those it
/// does not otherwise.
async fn under_parent(
    db: &impl ConnectionTrait,
    table: &TableDef,
    scope: &RowScope,
    chain: &[&ParentScope],
    key: &Value,
    reached: bool,
) -> Result<Vec<StoredRow>, DbErr> {
    let backend = db.get_database_backend();
    let mut sql = SqlBuilder::new(backend);
    sql.push(&format!(
        "SELECT {} FROM {} WHERE ",
        select_list(backend, table),
        quote(&table.name)
    ));
    push_under(&mut sql, chain, key);
    sql.push(if reached { " AND " } else { " AND NOT " });
    push_scope_filter(&mut sql, scope);
    if reached {
        sql.push(" AND \"_sg_deleted\" = ")
            .bind(sea_orm::Value::Bool(Some(false)), None);
    }
    db.query_all_raw(sql.build())
        .await?
        .iter()
        .map(|row| decode(backend, table, row))
        .collect()
}

/// Which of `keys` (as JSON text) rows of `table` name in `column`: the new parents that adopt
/// rows already stored.
pub async fn named_keys(
    db: &impl ConnectionTrait,
    table: &TableDef,
    column: &str,
    keys: &[Value],
) -> Result<std::collections::HashSet<String>, DbErr> {
    let backend = db.get_database_backend();
    let Some(kind) = table.spec.columns.get(column).map(|c| c.kind) else {
        return Ok(Default::default());
    };
    let mut named = std::collections::HashSet::new();
    for chunk in keys.chunks(500) {
        let mut sql = SqlBuilder::new(backend);
        let selected = match kind {
            ColumnType::Integer => quote(column),
            // A uuid column of PostgreSQL reads back as text this way.
            _ => format!("CAST({} AS TEXT)", quote(column)),
        };
        sql.push(&format!(
            "SELECT DISTINCT {selected} AS named FROM {} WHERE {} IN (",
            quote(&table.name),
            quote(column)
        ));
        push_values(&mut sql, kind, chunk);
        sql.push(")");
        for row in db.query_all_raw(sql.build()).await? {
            let key = match kind {
                ColumnType::Integer => Value::from(row.try_get::<i64>("", "named")?),
                _ => Value::String(row.try_get::<String>("", "named")?),
            };
            named.insert(key.to_string());
        }
    }
    Ok(named)
}

/// Rows whose chain of parents leads to `key` of the last table of `chain`.
fn push_under(sql: &mut SqlBuilder, chain: &[&ParentScope], key: &Value) {
    let Some((first, rest)) = chain.split_first() else {
        return;
    };
    if rest.is_empty() {
        let (bound, cast) = bind_value(sql.backend, first.key_kind, key);
        sql.push(&quote(&first.column))
            .push(" = ")
            .bind(bound, cast);
        return;
    }
    sql.push(&format!(
        "{} IN (SELECT {} FROM {} WHERE ",
        quote(&first.column),
        quote(&first.key),
        quote(&first.table)
    ));
    push_under(sql, rest, key);
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
