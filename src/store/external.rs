//! Writes made outside the gateway: the triggers that log them in `syncgate_external_changes`,
//! and taking the logged entries out.
//!
//! A gateway write always gives a row a new feed position (`_sg_seq`), and the gateway only ever
//! deletes tombstones; so a row inserted with `_sg_seq = 0`, updated without a new `_sg_seq`, or
//! deleted while live was written by someone else. Those are the triggers' conditions: on
//! SQLite the gateway's own statements skip them in the trigger's `WHEN` clause; on PostgreSQL
//! the log is written once per statement from its transition tables, which select those rows.
//!
//! For each such row the triggers log the table, the key and, for an update or a delete, the row
//! as it was (its scope before the change, and what its tombstone keeps). An update also bumps
//! `_sg_version` in the same statement, so a device writing with the version it last saw
//! conflicts even before the gateway has imported the change, and sets `_sg_seq` to 0 like an
//! inserted row's: until the import gives the row its new position, readers of the feed skip it
//! instead of reading its new values at its old position and again at the new one. An insert
//! over a tombstone's key first removes the tombstone, so a plain `INSERT` of a key deleted
//! earlier works. A row not yet imported is logged once: its later updates change nothing the
//! import does not read from the row itself.

use super::ddl::quote;
use super::rows::StoredRow;
use crate::schema::TableDef;
use crate::schema::model::ColumnType;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// The PostgreSQL channel the triggers notify when they log a change.
pub const CHANNEL: &str = "syncgate_external";

/// One logged change: the row `key` of `table` (key as text), as it was before (`None` for an
/// insert).
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub id: i64,
    pub table: String,
    pub key: String,
    pub old_row: Option<serde_json::Value>,
}

/// The statements that (re)install the triggers of `table`; idempotent.
pub fn install(backend: DbBackend, table: &TableDef) -> Vec<String> {
    match backend {
        DbBackend::Postgres => postgres_triggers(table),
        _ => sqlite_triggers(table),
    }
}

/// The statements that remove the triggers of `table` (and on PostgreSQL its functions).
pub fn remove(backend: DbBackend, table: &str) -> Vec<String> {
    match backend {
        DbBackend::Postgres => {
            let mut statements: Vec<String> = POSTGRES_TRIGGERS
                .iter()
                .map(|trigger| format!("DROP TRIGGER IF EXISTS {trigger} ON {}", quote(table)))
                .collect();
            statements.push(format!(
                "DROP FUNCTION IF EXISTS {}()",
                quote(&format!("syncgate_external_{table}"))
            ));
            statements.push(format!(
                "DROP FUNCTION IF EXISTS {}()",
                quote(&format!("syncgate_reinsert_{table}"))
            ));
            statements
        }
        _ => SQLITE_TRIGGERS
            .iter()
            .map(|kind| {
                format!(
                    "DROP TRIGGER IF EXISTS {}",
                    quote(&format!("syncgate_{kind}_{table}"))
                )
            })
            .collect(),
    }
}

const POSTGRES_TRIGGERS: [&str; 5] = [
    "syncgate_external_insert",
    "syncgate_external_update",
    "syncgate_external_delete",
    "syncgate_external_unplace",
    "syncgate_external_reinsert",
];

const SQLITE_TRIGGERS: [&str; 4] = [
    "external_insert",
    "external_update",
    "external_delete",
    "external_reinsert",
];

/// The function shared by every table's trigger that bumps an updated row's version and takes
/// its feed position until the import gives it a new one.
const POSTGRES_UNPLACE_FUNCTION: &str = "CREATE OR REPLACE FUNCTION syncgate_external_unplace() \
     RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN \
     NEW.\"_sg_version\" := OLD.\"_sg_version\" + 1; NEW.\"_sg_seq\" := 0; RETURN NEW; END $f$";

fn postgres_triggers(table: &TableDef) -> Vec<String> {
    let name = &table.name;
    let quoted = quote(name);
    let pk = quote(&table.spec.primary_key);
    let log = quote(&format!("syncgate_external_{name}"));
    let reinsert = quote(&format!("syncgate_reinsert_{name}"));
    let into = "INSERT INTO syncgate_external_changes (table_name, row_key, old_row)";
    // Logged per statement from its transition tables: a trigger call per row, each inserting
    // one entry, took half the throughput of a bulk INSERT; one per statement takes a tenth.
    vec![
        POSTGRES_UNPLACE_FUNCTION.to_string(),
        format!(
            "CREATE OR REPLACE FUNCTION {log}() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN \
             IF TG_OP = 'INSERT' THEN \
               {into} SELECT '{name}', n.{pk}::text, NULL FROM syncgate_new n \
               WHERE n.\"_sg_seq\" = 0; \
             ELSIF TG_OP = 'UPDATE' THEN \
               {into} SELECT '{name}', o.{pk}::text, to_jsonb(o)::text FROM syncgate_old o \
               WHERE o.\"_sg_seq\" <> 0 AND NOT EXISTS (SELECT 1 FROM syncgate_new n \
                 WHERE n.{pk} = o.{pk} AND n.\"_sg_seq\" <> 0) \
               UNION ALL SELECT '{name}', n.{pk}::text, NULL FROM syncgate_new n \
               WHERE n.\"_sg_seq\" = 0 AND NOT EXISTS (SELECT 1 FROM syncgate_old o \
                 WHERE o.{pk} = n.{pk}); \
             ELSE \
               {into} SELECT '{name}', o.{pk}::text, to_jsonb(o)::text FROM syncgate_old o \
               WHERE NOT o.\"_sg_deleted\"; \
             END IF; \
             IF FOUND THEN PERFORM pg_notify('{CHANNEL}', ''); END IF; \
             RETURN NULL; END $f$"
        ),
        format!(
            "CREATE OR REPLACE FUNCTION {reinsert}() RETURNS trigger LANGUAGE plpgsql AS $f$ \
             BEGIN DELETE FROM {quoted} WHERE {pk} = NEW.{pk} AND \"_sg_deleted\"; RETURN NEW; \
             END $f$"
        ),
        format!(
            "CREATE OR REPLACE TRIGGER syncgate_external_reinsert BEFORE INSERT ON {quoted} \
             FOR EACH ROW WHEN (NEW.\"_sg_seq\" = 0) EXECUTE FUNCTION {reinsert}()"
        ),
        format!(
            "CREATE OR REPLACE TRIGGER syncgate_external_unplace BEFORE UPDATE ON {quoted} \
             FOR EACH ROW WHEN (NEW.\"_sg_seq\" = OLD.\"_sg_seq\" AND OLD.\"_sg_seq\" <> 0) \
             EXECUTE FUNCTION syncgate_external_unplace()"
        ),
        format!(
            "CREATE OR REPLACE TRIGGER syncgate_external_insert AFTER INSERT ON {quoted} \
             REFERENCING NEW TABLE AS syncgate_new FOR EACH STATEMENT EXECUTE FUNCTION {log}()"
        ),
        format!(
            "CREATE OR REPLACE TRIGGER syncgate_external_update AFTER UPDATE ON {quoted} \
             REFERENCING OLD TABLE AS syncgate_old NEW TABLE AS syncgate_new \
             FOR EACH STATEMENT EXECUTE FUNCTION {log}()"
        ),
        format!(
            "CREATE OR REPLACE TRIGGER syncgate_external_delete AFTER DELETE ON {quoted} \
             REFERENCING OLD TABLE AS syncgate_old FOR EACH STATEMENT EXECUTE FUNCTION {log}()"
        ),
    ]
}

fn sqlite_triggers(table: &TableDef) -> Vec<String> {
    let name = &table.name;
    let quoted = quote(name);
    let pk = quote(&table.spec.primary_key);
    let trigger = |kind: &str| quote(&format!("syncgate_{kind}_{name}"));
    // The row before the change, its declared columns and the system columns the import needs.
    let old_row = {
        let mut members: Vec<String> = table
            .spec
            .columns
            .keys()
            .map(|column| format!("'{column}', OLD.{}", quote(column)))
            .collect();
        members.push("'_sg_version', OLD.\"_sg_version\"".into());
        members.push("'_sg_deleted', OLD.\"_sg_deleted\"".into());
        format!("json_object({})", members.join(", "))
    };
    let entry = |key: &str, old: &str| {
        format!(
            "INSERT INTO syncgate_external_changes (table_name, row_key, old_row) \
             VALUES ('{name}', CAST({key} AS TEXT), {old});"
        )
    };
    let mut statements = remove(DbBackend::Sqlite, name);
    statements.extend([
        format!(
            "CREATE TRIGGER {} BEFORE INSERT ON {quoted} WHEN NEW.\"_sg_seq\" = 0 BEGIN \
             DELETE FROM {quoted} WHERE {pk} = NEW.{pk} AND \"_sg_deleted\"; END",
            trigger("external_reinsert")
        ),
        format!(
            "CREATE TRIGGER {} AFTER INSERT ON {quoted} WHEN NEW.\"_sg_seq\" = 0 BEGIN {} END",
            trigger("external_insert"),
            entry(&format!("NEW.{pk}"), "NULL")
        ),
        format!(
            "CREATE TRIGGER {} AFTER UPDATE ON {quoted} \
             WHEN NEW.\"_sg_seq\" = OLD.\"_sg_seq\" AND OLD.\"_sg_seq\" <> 0 BEGIN UPDATE {quoted} SET \"_sg_seq\" = 0, \"_sg_version\" = \"_sg_version\" + 1 \
             WHERE {pk} = NEW.{pk}; {} INSERT INTO syncgate_external_changes (table_name, row_key, old_row) \
             SELECT '{name}', CAST(NEW.{pk} AS TEXT), NULL WHERE NEW.{pk} IS NOT OLD.{pk}; END",
            trigger("external_update"),
            entry(&format!("OLD.{pk}"), &old_row)
        ),
        format!(
            "CREATE TRIGGER {} AFTER DELETE ON {quoted} WHEN NOT OLD.\"_sg_deleted\" BEGIN {} END",
            trigger("external_delete"),
            entry(&format!("OLD.{pk}"), &old_row)
        ),
    ]);
    statements
}

/// Whether any change is waiting to be imported.
pub async fn any_pending(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    Ok(db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT id FROM syncgate_external_changes LIMIT 1",
        ))
        .await?
        .is_some())
}

/// Takes out up to `limit` logged changes, oldest first: they are gone when the transaction
/// commits, and back if it rolls back. Exactly the entries returned are removed, so an entry
/// committed meanwhile (PostgreSQL hands out ids before commit) waits for the next call.
pub async fn take(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<Logged>, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "DELETE FROM syncgate_external_changes WHERE id IN \
         (SELECT id FROM syncgate_external_changes ORDER BY id LIMIT {limit}) \
         RETURNING id, table_name, row_key, old_row"
    );
    let mut taken = Vec::new();
    for row in db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?
    {
        let old_row: Option<String> = row.try_get("", "old_row")?;
        taken.push(Logged {
            id: row.try_get("", "id")?,
            table: row.try_get("", "table_name")?,
            key: row.try_get("", "row_key")?,
            old_row: old_row
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|error| {
                    DbErr::Custom(format!("syncgate_external_changes.old_row: {error}"))
                })?,
        });
    }
    taken.sort_by_key(|logged| logged.id);
    Ok(taken)
}

/// A logged key as the gateway's key value: a number for an integer key, text otherwise.
pub fn parse_key(kind: ColumnType, text: &str) -> serde_json::Value {
    match (kind, text.parse::<i64>()) {
        (ColumnType::Integer, Ok(number)) => serde_json::Value::from(number),
        _ => serde_json::Value::String(text.to_string()),
    }
}

/// Gives every row without a feed position (`_sg_seq = 0`: rows of a table that existed before
/// the gateway adopted it, or written while its triggers were removed) a position of its own,
/// version 1 at least; returns how many. Run inside the transaction that applies the schema.
pub async fn position_unplaced(
    db: &impl ConnectionTrait,
    table: &TableDef,
    now_millis: i64,
) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let quoted = quote(&table.name);
    if backend == DbBackend::Postgres {
        // Rows inserted meanwhile by others would take positions not handed out.
        db.execute_unprepared(&format!("LOCK TABLE {quoted} IN SHARE ROW EXCLUSIVE MODE"))
            .await?;
    }
    let count: i64 = db
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT COUNT(*) AS n FROM {quoted} WHERE \"_sg_seq\" = 0"),
        ))
        .await?
        .map(|row| row.try_get("", "n"))
        .transpose()?
        .unwrap_or(0);
    if count == 0 {
        return Ok(0);
    }
    let last = super::feed::reserve(db, count).await?;
    let base = last - count;
    let pk = quote(&table.spec.primary_key);
    let greatest = match backend {
        DbBackend::Postgres => "GREATEST",
        _ => "MAX",
    };
    db.execute_unprepared(&format!(
        "UPDATE {quoted} SET \"_sg_seq\" = {base} + placed.n, \
         \"_sg_version\" = {greatest}(\"_sg_version\", 1), \"_sg_changed_at\" = {now_millis} \
         FROM (SELECT {pk} AS k, row_number() OVER (ORDER BY {pk}) AS n FROM {quoted} \
               WHERE \"_sg_seq\" = 0) AS placed \
         WHERE {quoted}.{pk} = placed.k"
    ))
    .await?;
    Ok(count as u64)
}

/// The row a trigger logged (its JSON: all columns on PostgreSQL, the declared and system
/// columns on SQLite) in the form the gateway stores and compares rows: values normalised as
/// `schema::values::normalize` gives them, SQLite's 0/1 booleans and JSON text decoded.
pub fn logged_row(backend: DbBackend, table: &TableDef, logged: &serde_json::Value) -> StoredRow {
    use serde_json::Value as Json;
    let field = |name: &str| logged.get(name).cloned().unwrap_or(Json::Null);
    let flag = |value: Json| match value {
        Json::Bool(flag) => flag,
        Json::Number(number) => number.as_i64().is_some_and(|n| n != 0),
        _ => false,
    };
    let values = table
        .spec
        .columns
        .iter()
        .map(|(name, column)| {
            let value = match (column.kind, field(name)) {
                (ColumnType::Boolean, Json::Number(number)) => {
                    Json::Bool(number.as_i64().is_some_and(|n| n != 0))
                }
                (ColumnType::Json, Json::String(text)) if backend == DbBackend::Sqlite => {
                    serde_json::from_str(&text).unwrap_or(Json::String(text))
                }
                (_, value) => crate::schema::values::normalize(column, value),
            };
            (name.clone(), value)
        })
        .collect();
    StoredRow {
        values,
        version: field("_sg_version").as_i64().unwrap_or(0),
        seq: 0,
        deleted: flag(field("_sg_deleted")),
        changed_at: 0,
    }
}
