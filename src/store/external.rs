//! Writes made outside the gateway: the triggers that place the rows other connections write in
//! the changes feed, and the log of those rows (`syncgate_external_changes`) for what the
//! gateway does after a write (outbox entries, `after_commit` hooks and webhooks, metrics).
//!
//! A gateway write always gives a row a new feed position (`_sg_seq`), and the gateway only ever
//! deletes tombstones; so a row inserted with `_sg_seq = 0`, updated without a new `_sg_seq`, or
//! deleted while live was written by someone else. Those are the triggers' conditions, in their
//! `WHEN` clauses, so the gateway's own statements call nothing.
//!
//! The triggers do in the writer's transaction what a gateway write does: they take the row's
//! feed position from the counter row (`syncgate_sequence`), whose lock every writer takes, so
//! positions follow commit order whoever writes; bump its version (a device writing the version
//! it saw before conflicts); fill declared defaults into columns an insert left null; record a
//! move when a scope column changed (and when a new parent row adopts rows waiting for it); and
//! turn a delete into a tombstone at a new position. On SQLite an `AFTER` trigger writes the
//! system columns (a `BEFORE` trigger cannot change the row); on PostgreSQL a `BEFORE` trigger
//! sets them in the row being written, taking positions from the counter in blocks per
//! transaction (a row's lock held to the commit orders writers as one row per position would).
//! A key deleted earlier keeps its tombstone, so inserting it again takes removing the tombstone
//! first (`DELETE`, which the triggers let through for tombstones, or SQLite's `INSERT OR
//! REPLACE`): doing that in the triggers cost every external insert on PostgreSQL a fifth of its
//! throughput (a lookup per row), and on SQLite every insert of the gateway's own 12 % (a
//! `BEFORE INSERT` trigger slows inserts even when its `WHEN` is false).
//!
//! Each changed row is also logged, with the row as it was (updates and deletes): on SQLite by
//! the row triggers, on PostgreSQL once per statement from its transition tables, skipped for the
//! gateway's own statements (`SET LOCAL syncgate.writer = 'gateway'`, see `feed::begin_write`).

use super::ddl::{quote, sql_type};
use super::rows::StoredRow;
use crate::schema::model::{Column, ColumnType};
use crate::schema::{Schema, TableDef};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// The PostgreSQL channel the log trigger notifies when it logs a change.
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
pub fn install(backend: DbBackend, schema: &Schema, table: &TableDef) -> Vec<String> {
    let sql = TriggerSql {
        backend,
        schema,
        table,
    };
    match backend {
        DbBackend::Postgres => sql.postgres(),
        _ => sql.sqlite(),
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
            for function in ["external", "place", "tombstone"] {
                statements.push(format!(
                    "DROP FUNCTION IF EXISTS {}()",
                    quote(&format!("syncgate_{function}_{table}"))
                ));
            }
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

const POSTGRES_TRIGGERS: [&str; 7] = [
    "syncgate_external_place_insert",
    "syncgate_external_place_update",
    "syncgate_external_tombstone",
    "syncgate_external_rekey",
    "syncgate_external_insert",
    "syncgate_external_update",
    "syncgate_external_delete",
];

const SQLITE_TRIGGERS: [&str; 3] = ["external_insert", "external_update", "external_delete"];

/// Takes the next feed position into `upcoming` (in a function declaring `upcoming`, `reserved`
/// and `block_size` as bigint). Positions are handed to an external transaction in blocks (8,
/// then doubling to 1024) kept in transaction-local settings: one update of the counter row per
/// block instead of per row; unused positions of a block are gaps in the feed, which readers
/// skip. Inlined rather than a function of its own: a nested call per row cost the external
/// writer a tenth of its throughput. The counter itself is moved by [`POSTGRES_RESERVE`].
const POSTGRES_TAKE_POSITION: &str = "\
     upcoming := NULLIF(current_setting('syncgate.next_position', true), '')::bigint; \
     reserved := NULLIF(current_setting('syncgate.last_position', true), '')::bigint; \
     IF upcoming IS NULL OR reserved IS NULL OR upcoming > reserved THEN \
       block_size := LEAST(COALESCE(NULLIF(current_setting('syncgate.block', true), '') \
                     ::bigint * 2, 8), 1024); \
       reserved := syncgate_reserve_positions(block_size); \
       upcoming := reserved - block_size + 1; \
       PERFORM set_config('syncgate.block', block_size::text, true); \
       PERFORM set_config('syncgate.last_position', reserved::text, true); \
     END IF; \
     PERFORM set_config('syncgate.next_position', (upcoming + 1)::text, true); ";

/// The variables [`POSTGRES_TAKE_POSITION`] needs.
const POSTGRES_POSITION_VARIABLES: &str =
    "DECLARE upcoming bigint; reserved bigint; block_size bigint;";

/// Moves the feed counter by `block_size` (locking its row to the commit) and announces the
/// position reached; returns it.
const POSTGRES_RESERVE: &str = "CREATE OR REPLACE FUNCTION syncgate_reserve_positions(\
     block_size bigint) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER \
     SET search_path FROM CURRENT AS $f$ DECLARE reserved bigint; BEGIN \
       UPDATE syncgate_sequence SET value = value + block_size WHERE name = 'feed' \
         RETURNING value INTO reserved; \
       PERFORM pg_notify('syncgate_feed', reserved::text); \
       RETURN reserved; END $f$";

/// Records a move (`syncgate_moves`) for a trigger running with the writer's rights.
const POSTGRES_RECORD_MOVE: &str = "CREATE OR REPLACE FUNCTION syncgate_record_move(\
     bigint, text, text, bigint, text, text) RETURNS void LANGUAGE sql SECURITY DEFINER \
     SET search_path FROM CURRENT AS $f$ \
     INSERT INTO syncgate_moves (seq, table_name, row_key, version, old_scope, new_scope) \
     VALUES ($1, $2, $3, $4, $5, $6) $f$";

/// The functions that write the gateway's own tables run as the gateway's database role, with
/// the search path they were created with, so a writer needs rights on the tables it writes
/// only. (The function a trigger calls for every row runs with the writer's rights: a
/// `SET search_path` on it cost a fifth of the external writer's throughput.)
const DEFINER: &str = "SECURITY DEFINER SET search_path FROM CURRENT";

/// SQL of one table's triggers.
struct TriggerSql<'a> {
    backend: DbBackend,
    schema: &'a Schema,
    table: &'a TableDef,
}

impl TriggerSql<'_> {
    fn postgres(&self) -> Vec<String> {
        let name = &self.table.name;
        let quoted = quote(name);
        let pk = quote(&self.table.spec.primary_key);
        let place = quote(&format!("syncgate_place_{name}"));
        let tombstone = quote(&format!("syncgate_tombstone_{name}"));
        let log = quote(&format!("syncgate_external_{name}"));
        let now = self.now();
        let defaults: String = self
            .defaults()
            .map(|(column, literal)| format!("NEW.{column} := COALESCE(NEW.{column}, {literal}); "))
            .collect();
        let adoption = self
            .adoption("NEW")
            .map(|(exists, new_scope)| {
                format!(
                    "IF {exists} THEN PERFORM syncgate_record_move(NEW.\"_sg_seq\", '{name}', \
                     NEW.{pk}::text, 1, '{{}}', {new_scope}); END IF; "
                )
            })
            .unwrap_or_default();
        let moved = self
            .moved("OLD", "NEW")
            .map(|moved| {
                format!(
                    "IF ({moved}) AND NOT (OLD.\"_sg_deleted\" AND NEW.\"_sg_deleted\") THEN \
                     PERFORM syncgate_record_move(NEW.\"_sg_seq\", '{name}', NEW.{pk}::text, \
                     NEW.\"_sg_version\", {}, {}); END IF; ",
                    self.scope_json("OLD"),
                    self.scope_json("NEW"),
                )
            })
            .unwrap_or_default();
        let into = "INSERT INTO syncgate_external_changes (table_name, row_key, old_row)";
        vec![
            POSTGRES_RESERVE.to_string(),
            POSTGRES_RECORD_MOVE.to_string(),
            format!(
                "CREATE OR REPLACE FUNCTION {place}() RETURNS trigger LANGUAGE plpgsql AS $f$ \
                 {POSTGRES_POSITION_VARIABLES} BEGIN \
                 {POSTGRES_TAKE_POSITION} NEW.\"_sg_seq\" := upcoming; \
                 IF TG_OP = 'INSERT' THEN \
                   NEW.\"_sg_version\" := 1; \
                   NEW.\"_sg_deleted\" := false; NEW.\"_sg_changed_at\" := {now}; \
                   {defaults}{adoption}\
                 ELSE \
                   NEW.\"_sg_version\" := OLD.\"_sg_version\" + 1; \
                   NEW.\"_sg_changed_at\" := {now}; \
                   {moved}\
                 END IF; \
                 RETURN NEW; END $f$"
            ),
            format!(
                "CREATE OR REPLACE FUNCTION {tombstone}() RETURNS trigger LANGUAGE plpgsql {DEFINER} AS \
                 $f$ {POSTGRES_POSITION_VARIABLES} BEGIN {POSTGRES_TAKE_POSITION} {} RETURN NULL; \
                 END $f$",
                self.insert_tombstone("upcoming"),
            ),
            format!(
                "CREATE OR REPLACE FUNCTION {log}() RETURNS trigger LANGUAGE plpgsql {DEFINER} AS $f$ BEGIN \
                 IF current_setting('syncgate.writer', true) = 'gateway' THEN RETURN NULL; \
                 END IF; \
                 IF TG_OP = 'INSERT' THEN \
                   {into} SELECT '{name}', n.{pk}::text, NULL FROM syncgate_new n \
                   WHERE NOT n.\"_sg_deleted\"; \
                 ELSIF TG_OP = 'UPDATE' THEN \
                   {into} SELECT '{name}', o.{pk}::text, to_jsonb(o)::text FROM syncgate_old o \
                   UNION ALL SELECT '{name}', n.{pk}::text, NULL FROM syncgate_new n \
                   WHERE NOT EXISTS (SELECT 1 FROM syncgate_old o WHERE o.{pk} = n.{pk}); \
                 ELSE \
                   {into} SELECT '{name}', o.{pk}::text, to_jsonb(o)::text FROM syncgate_old o \
                   WHERE NOT o.\"_sg_deleted\"; \
                 END IF; \
                 IF FOUND THEN PERFORM pg_notify('{CHANNEL}', ''); END IF; \
                 RETURN NULL; END $f$"
            ),
            format!(
                "CREATE OR REPLACE TRIGGER syncgate_external_place_insert BEFORE INSERT ON \
                 {quoted} FOR EACH ROW WHEN (NEW.\"_sg_seq\" = 0) EXECUTE FUNCTION {place}()"
            ),
            format!(
                "CREATE OR REPLACE TRIGGER syncgate_external_place_update BEFORE UPDATE ON \
                 {quoted} FOR EACH ROW WHEN (NEW.\"_sg_seq\" = OLD.\"_sg_seq\") \
                 EXECUTE FUNCTION {place}()"
            ),
            format!(
                "CREATE OR REPLACE TRIGGER syncgate_external_tombstone AFTER DELETE ON {quoted} \
                 FOR EACH ROW WHEN (NOT OLD.\"_sg_deleted\") EXECUTE FUNCTION {tombstone}()"
            ),
            format!(
                "CREATE OR REPLACE TRIGGER syncgate_external_rekey AFTER UPDATE ON {quoted} \
                 FOR EACH ROW WHEN (NEW.{pk} IS DISTINCT FROM OLD.{pk}) \
                 EXECUTE FUNCTION {tombstone}()"
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

    fn sqlite(&self) -> Vec<String> {
        let name = &self.table.name;
        let quoted = quote(name);
        let pk = quote(&self.table.spec.primary_key);
        let trigger = |kind: &str| quote(&format!("syncgate_{kind}_{name}"));
        let now = self.now();
        let bump = "UPDATE syncgate_sequence SET value = value + 1 WHERE name = 'feed';";
        let seq = "(SELECT value FROM syncgate_sequence WHERE name = 'feed')";
        let defaults: String = self
            .defaults()
            .map(|(column, literal)| format!(", {column} = COALESCE({column}, {literal})"))
            .collect();
        let adoption = self
            .adoption("NEW")
            .map(|(exists, new_scope)| {
                format!(
                    "INSERT INTO syncgate_moves (seq, table_name, row_key, version, old_scope, \
                     new_scope) SELECT {seq}, '{name}', CAST(NEW.{pk} AS TEXT), 1, '{{}}', \
                     {new_scope} WHERE {exists};"
                )
            })
            .unwrap_or_default();
        let moved = self
            .moved("OLD", "NEW")
            .map(|moved| {
                format!(
                    "INSERT INTO syncgate_moves (seq, table_name, row_key, version, old_scope, \
                     new_scope) SELECT {seq}, '{name}', CAST(NEW.{pk} AS TEXT), \
                     OLD.\"_sg_version\" + 1, {}, {} WHERE ({moved}) \
                     AND NOT (OLD.\"_sg_deleted\" AND NEW.\"_sg_deleted\");",
                    self.scope_json("OLD"),
                    self.scope_json("NEW"),
                )
            })
            .unwrap_or_default();
        // The row before the change, its declared columns and the system columns the log
        // keeps.
        let old_row = {
            let mut members: Vec<String> = self
                .table
                .spec
                .columns
                .keys()
                .map(|column| format!("'{column}', OLD.{}", quote(column)))
                .collect();
            members.push("'_sg_version', OLD.\"_sg_version\"".into());
            members.push("'_sg_deleted', OLD.\"_sg_deleted\"".into());
            format!("json_object({})", members.join(", "))
        };
        let log = |key: &str, old: &str| {
            format!(
                "INSERT INTO syncgate_external_changes (table_name, row_key, old_row) \
                 VALUES ('{name}', CAST({key} AS TEXT), {old});"
            )
        };
        let rekeyed = format!("NEW.{pk} IS NOT OLD.{pk}");
        let mut statements = remove(DbBackend::Sqlite, name);
        statements.extend([
            format!(
                "CREATE TRIGGER {} AFTER INSERT ON {quoted} WHEN NEW.\"_sg_seq\" = 0 BEGIN \
                 {bump} UPDATE {quoted} SET \"_sg_seq\" = {seq}, \"_sg_version\" = 1, \
                 \"_sg_changed_at\" = {now}{defaults} WHERE {pk} = NEW.{pk}; {adoption} {} END",
                trigger("external_insert"),
                log(&format!("NEW.{pk}"), "NULL"),
            ),
            format!(
                "CREATE TRIGGER {} AFTER UPDATE ON {quoted} WHEN NEW.\"_sg_seq\" = OLD.\"_sg_seq\" \
                 BEGIN {bump} UPDATE {quoted} SET \"_sg_seq\" = {seq}, \
                 \"_sg_version\" = OLD.\"_sg_version\" + 1, \"_sg_changed_at\" = {now} \
                 WHERE {pk} = NEW.{pk}; {moved} \
                 UPDATE syncgate_sequence SET value = value + 1 WHERE name = 'feed' \
                 AND {rekeyed}; {} {} \
                 INSERT INTO syncgate_external_changes (table_name, row_key, old_row) \
                 SELECT '{name}', CAST(NEW.{pk} AS TEXT), NULL WHERE {rekeyed}; END",
                trigger("external_update"),
                self.insert_tombstone_where(seq, &rekeyed),
                log(&format!("OLD.{pk}"), &old_row),
            ),
            format!(
                "CREATE TRIGGER {} AFTER DELETE ON {quoted} WHEN NOT OLD.\"_sg_deleted\" BEGIN \
                 {bump} {} {} END",
                trigger("external_delete"),
                self.insert_tombstone(seq),
                log(&format!("OLD.{pk}"), &old_row),
            ),
        ]);
        statements
    }

    /// Now, in Unix milliseconds.
    fn now(&self) -> &'static str {
        match self.backend {
            DbBackend::Postgres => "(extract(epoch FROM clock_timestamp()) * 1000)::bigint",
            _ => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
        }
    }

    /// `INSERT` of the tombstone of the row `OLD` at `position`, its version one past OLD's.
    fn insert_tombstone(&self, position: &str) -> String {
        self.insert_tombstone_where(position, "1 = 1")
    }

    fn insert_tombstone_where(&self, position: &str, condition: &str) -> String {
        let columns = &self.table.spec.columns;
        let names: Vec<String> = columns.keys().map(|name| quote(name)).collect();
        let values: Vec<String> = columns
            .keys()
            .map(|name| format!("OLD.{}", quote(name)))
            .collect();
        let yes = match self.backend {
            DbBackend::Postgres => "true",
            _ => "1",
        };
        let insert = format!(
            "INSERT INTO {} ({}, \"_sg_version\", \"_sg_seq\", \"_sg_deleted\", \
             \"_sg_changed_at\") SELECT {}, OLD.\"_sg_version\" + 1, {position}, {yes}, {}",
            quote(&self.table.name),
            names.join(", "),
            values.join(", "),
            self.now(),
        );
        format!("{insert} WHERE {condition};")
    }

    /// Each declared column with a default, quoted, and the default as an SQL literal.
    fn defaults(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.table.spec.columns.iter().filter_map(|(name, column)| {
            let default = column.default.as_ref()?;
            Some((quote(name), self.literal(column, default)))
        })
    }

    /// A value of `column` as an SQL literal, typed as the column is.
    fn literal(&self, column: &Column, value: &serde_json::Value) -> String {
        use serde_json::Value as Json;
        let value = crate::schema::values::normalize(column, value.clone());
        let text = |text: &str| format!("'{}'", text.replace('\'', "''"));
        let bare = match &value {
            Json::Null => "NULL".to_string(),
            Json::Bool(flag) => match (self.backend, flag) {
                (DbBackend::Postgres, true) => "true".into(),
                (DbBackend::Postgres, false) => "false".into(),
                (_, true) => "1".into(),
                (_, false) => "0".into(),
            },
            Json::Number(number)
                if matches!(column.kind, ColumnType::Integer | ColumnType::Real) =>
            {
                number.to_string()
            }
            Json::String(string) if column.kind != ColumnType::Json => text(string),
            // A JSON column's value as JSON text.
            other => text(&other.to_string()),
        };
        match self.backend {
            DbBackend::Postgres if bare != "NULL" => {
                format!("CAST({bare} AS {})", sql_type(self.backend, column.kind))
            }
            _ => bare,
        }
    }

    /// The condition that a write from `old` to `new` changed one of the table's scope columns;
    /// `None` when the table has none.
    fn moved(&self, old: &str, new: &str) -> Option<String> {
        let columns = self.schema.scope_columns(self.table);
        let differs = match self.backend {
            DbBackend::Postgres => "IS DISTINCT FROM",
            _ => "IS NOT",
        };
        (!columns.is_empty()).then(|| {
            columns
                .iter()
                .map(|column| {
                    let column = quote(column);
                    format!("{old}.{column} {differs} {new}.{column}")
                })
                .collect::<Vec<_>>()
                .join(" OR ")
        })
    }

    /// For a table others are scoped through: whether a row of theirs names the new row `row`
    /// (it then adopts them, a move from nowhere), and the row's scope values.
    fn adoption(&self, row: &str) -> Option<(String, String)> {
        let pk = quote(&self.table.spec.primary_key);
        let children: Vec<String> = self
            .schema
            .tables
            .values()
            .filter_map(|child| {
                let from = child.spec.scope_from.as_ref()?;
                (from.table == self.table.name).then(|| {
                    format!(
                        "EXISTS (SELECT 1 FROM {} WHERE {} = {row}.{pk})",
                        quote(&child.name),
                        quote(&from.column)
                    )
                })
            })
            .collect();
        (!children.is_empty()).then(|| (children.join(" OR "), self.scope_json(row)))
    }

    /// The values deciding which readers reach `row`, as the JSON object a move records: its
    /// scope columns, or for a row scoped through a parent, those of its chain's root, reached
    /// through the parents as they are.
    fn scope_json(&self, row: &str) -> String {
        // The key of the chain's root: the row's parent column, then each parent's.
        let parents = self.schema.parents(self.table);
        let mut key = self
            .table
            .spec
            .scope_from
            .as_ref()
            .map(|from| format!("{row}.{}", quote(&from.column)));
        for pair in parents.windows(2) {
            let parent = pair[0];
            if let (Some(inner), Some(from)) = (&key, &parent.spec.scope_from) {
                key = Some(format!(
                    "(SELECT {} FROM {} WHERE {} = {inner})",
                    quote(&from.column),
                    quote(&parent.name),
                    quote(&parent.spec.primary_key)
                ));
            }
        }
        let root = self.schema.scope_root(self.table);
        let members: Vec<String> = self
            .schema
            .scope_columns(root)
            .iter()
            .map(|column| {
                let kind = root.spec.columns[column].kind;
                let value = match &key {
                    None => format!("{row}.{}", quote(column)),
                    Some(key) => format!(
                        "(SELECT {} FROM {} WHERE {} = {key})",
                        quote(column),
                        quote(&root.name),
                        quote(&root.spec.primary_key)
                    ),
                };
                format!("'{column}', {}", self.json_value(&value, kind))
            })
            .collect();
        match self.backend {
            DbBackend::Postgres => format!("jsonb_build_object({})::text", members.join(", ")),
            _ => format!("json_object({})", members.join(", ")),
        }
    }

    /// A column's value as the gateway's JSON has it (SQLite keeps booleans as 0/1 and JSON as
    /// text).
    fn json_value(&self, value: &str, kind: ColumnType) -> String {
        match (self.backend, kind) {
            (DbBackend::Postgres, _) => value.to_string(),
            (_, ColumnType::Boolean) => format!(
                "json(CASE WHEN {value} IS NULL THEN NULL WHEN {value} THEN 'true' \
                 ELSE 'false' END)"
            ),
            (_, ColumnType::Json) => format!("json({value})"),
            _ => value.to_string(),
        }
    }
}

/// Whether any logged change is waiting to be followed.
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
    let unplaced = || async {
        let row = db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM {quoted} WHERE \"_sg_seq\" = 0"),
            ))
            .await?;
        row.map(|row| row.try_get::<i64>("", "n"))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    // Usually none: every start counts (by the feed index) without making other writers wait.
    let mut count = unplaced().await?;
    if count == 0 {
        return Ok(0);
    }
    if backend == DbBackend::Postgres {
        // Rows inserted meanwhile by others would take positions not handed out: lock, count
        // again.
        db.execute_unprepared(&format!("LOCK TABLE {quoted} IN SHARE ROW EXCLUSIVE MODE"))
            .await?;
        count = unplaced().await?;
        if count == 0 {
            return Ok(0);
        }
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
