//! SQL for the physical tables behind the schema: column types per backend, the system columns
//! every synced table carries, and the statements that create and extend tables.
//!
//! Names are quoted, and schema validation only lets lowercase ASCII names through, so they are
//! safe to splice; values are always bound.

use crate::schema::TableDef;
use crate::schema::model::{Column, ColumnType};
use sea_orm::{DbBackend, Statement, Value};

/// A column the gateway adds to every synced table, outside the user's schema.
pub struct SystemColumn {
    pub name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// Row version (server-assigned, bumped on every write), position of the row's latest change in
/// the changes feed, tombstone flag, and when the row last changed (Unix milliseconds, for sync
/// lag). Names start with `_sg`, which user columns cannot. A table created before a system
/// column existed gains it at the next start.
pub const SYSTEM_COLUMNS: &[SystemColumn] = &[
    SystemColumn {
        name: "_sg_version",
        sqlite: "INTEGER NOT NULL DEFAULT 0",
        postgres: "BIGINT NOT NULL DEFAULT 0",
    },
    SystemColumn {
        name: "_sg_seq",
        sqlite: "INTEGER NOT NULL DEFAULT 0",
        postgres: "BIGINT NOT NULL DEFAULT 0",
    },
    SystemColumn {
        name: "_sg_deleted",
        sqlite: "BOOLEAN NOT NULL DEFAULT FALSE",
        postgres: "BOOLEAN NOT NULL DEFAULT FALSE",
    },
    SystemColumn {
        name: "_sg_changed_at",
        sqlite: "INTEGER NOT NULL DEFAULT 0",
        postgres: "BIGINT NOT NULL DEFAULT 0",
    },
];

pub fn is_system_column(name: &str) -> bool {
    name.starts_with("_sg_")
}

/// The SQL type a declared column gets: typed on PostgreSQL; on SQLite, types without a native
/// storage class are TEXT (decimals as text so that no digit is lost).
pub fn sql_type(backend: DbBackend, kind: ColumnType) -> &'static str {
    match (backend, kind) {
        (DbBackend::Postgres, ColumnType::Integer) => "BIGINT",
        (DbBackend::Postgres, ColumnType::Real) => "DOUBLE PRECISION",
        (DbBackend::Postgres, ColumnType::Decimal) => "NUMERIC",
        (DbBackend::Postgres, ColumnType::Boolean) => "BOOLEAN",
        (DbBackend::Postgres, ColumnType::Timestamp) => "TIMESTAMPTZ",
        (DbBackend::Postgres, ColumnType::Date) => "DATE",
        (DbBackend::Postgres, ColumnType::Uuid) => "UUID",
        (DbBackend::Postgres, ColumnType::Json) => "JSONB",
        (DbBackend::Postgres, _) => "TEXT",
        (_, ColumnType::Integer) => "INTEGER",
        (_, ColumnType::Real) => "REAL",
        (_, ColumnType::Boolean) => "BOOLEAN",
        (_, _) => "TEXT",
    }
}

/// The type name the database reports for [`sql_type`] (`PRAGMA table_info` on SQLite,
/// `information_schema.columns.data_type` on PostgreSQL), lowercase.
pub fn reported_type(backend: DbBackend, kind: ColumnType) -> &'static str {
    match (backend, sql_type(backend, kind)) {
        (DbBackend::Postgres, "TIMESTAMPTZ") => "timestamp with time zone",
        (DbBackend::Postgres, "JSONB") => "jsonb",
        (DbBackend::Postgres, "BIGINT") => "bigint",
        (DbBackend::Postgres, "DOUBLE PRECISION") => "double precision",
        (DbBackend::Postgres, "NUMERIC") => "numeric",
        (DbBackend::Postgres, "BOOLEAN") => "boolean",
        (DbBackend::Postgres, "DATE") => "date",
        (DbBackend::Postgres, "UUID") => "uuid",
        (DbBackend::Postgres, _) => "text",
        (_, "INTEGER") => "integer",
        (_, "REAL") => "real",
        (_, "BOOLEAN") => "boolean",
        (_, _) => "text",
    }
}

/// Whether a column the database reports as `reported` can hold a declared `kind` as it is: the
/// type the gateway creates, or a common representation another application's table has (a
/// SQLite `INTEGER` 0/1 for a boolean, a `VARCHAR(n)` for text). Reads and writes of such a
/// column go through the same binding as the gateway's own type.
pub fn accepts(backend: DbBackend, kind: ColumnType, reported: &str) -> bool {
    if reported == reported_type(backend, kind) {
        return true;
    }
    let text_like = |reported: &str| {
        [
            "varchar",
            "character varying",
            "nvarchar",
            "char",
            "character",
            "clob",
            "text",
        ]
        .iter()
        .any(|prefix| reported.starts_with(prefix))
    };
    let integer_like = |reported: &str| {
        [
            "int",
            "integer",
            "bigint",
            "smallint",
            "tinyint",
            "mediumint",
            "int8",
        ]
        .contains(&reported)
    };
    match backend {
        DbBackend::Postgres => match sql_type(backend, kind) {
            // `character(n)` pads with spaces, so only `varchar` stands in for text.
            "TEXT" => reported == "character varying",
            _ => false,
        },
        _ => match sql_type(backend, kind) {
            "TEXT" => text_like(reported),
            "INTEGER" => integer_like(reported),
            "BOOLEAN" => integer_like(reported) || reported == "bool",
            "REAL" => ["double", "double precision", "float"].contains(&reported),
            _ => false,
        },
    }
}

pub fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

/// `CREATE TABLE` with the declared columns (only the primary key NOT NULL: nullability, bounds
/// and enums are enforced by the gateway, so that schema changes never need a table rebuild),
/// the system columns, and the index the changes feed reads by.
pub fn create_table(backend: DbBackend, table: &TableDef) -> Vec<String> {
    let mut columns: Vec<String> = table
        .spec
        .columns
        .iter()
        .map(|(name, column)| {
            let key = if *name == table.spec.primary_key {
                " NOT NULL PRIMARY KEY"
            } else {
                ""
            };
            format!("{} {}{key}", quote(name), sql_type(backend, column.kind))
        })
        .collect();
    columns.extend(
        SYSTEM_COLUMNS
            .iter()
            .map(|system| system_column_sql(backend, system)),
    );
    vec![
        format!(
            "CREATE TABLE {} ({})",
            quote(&table.name),
            columns.join(", ")
        ),
        seq_index(&table.name),
    ]
}

pub fn seq_index(table: &str) -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} (\"_sg_seq\")",
        quote(&format!("{table}__sg_seq")),
        quote(table)
    )
}

/// The index that finds a parent's rows (`scope_from`): when the parent moves, its rows move
/// with it, found through this index rather than by reading the whole table.
pub fn parent_index(table: &str, column: &str) -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
        quote(&format!("{table}__sg_parent_{column}")),
        quote(table),
        quote(column)
    )
}

pub fn add_column(backend: DbBackend, table: &str, name: &str, column: &Column) -> String {
    format!(
        "ALTER TABLE {} ADD COLUMN {} {}",
        quote(table),
        quote(name),
        sql_type(backend, column.kind)
    )
}

pub fn add_system_column(backend: DbBackend, table: &str, system: &SystemColumn) -> String {
    format!(
        "ALTER TABLE {} ADD COLUMN {}",
        quote(table),
        system_column_sql(backend, system)
    )
}

fn system_column_sql(backend: DbBackend, system: &SystemColumn) -> String {
    let definition = match backend {
        DbBackend::Postgres => system.postgres,
        _ => system.sqlite,
    };
    format!("{} {definition}", quote(system.name))
}

/// `UPDATE` that gives every existing row `value` in a newly added column.
pub fn fill_column(
    backend: DbBackend,
    table: &str,
    name: &str,
    column: &Column,
    value: &serde_json::Value,
) -> Statement {
    let (bound, cast) = bind_value(backend, column.kind, value);
    let placeholder = match backend {
        DbBackend::Postgres => "$1",
        _ => "?",
    };
    let target = match cast {
        Some(sql_type) => format!("CAST({placeholder} AS {sql_type})"),
        None => placeholder.to_string(),
    };
    Statement::from_sql_and_values(
        backend,
        format!("UPDATE {} SET {} = {target}", quote(table), quote(name)),
        [bound],
    )
}

/// A JSON value as a bound SQL value, with the cast PostgreSQL needs to store text in a typed
/// column.
pub fn bind_value(
    backend: DbBackend,
    kind: ColumnType,
    value: &serde_json::Value,
) -> (Value, Option<&'static str>) {
    use serde_json::Value as Json;
    let cast = (backend == DbBackend::Postgres
        && matches!(
            kind,
            ColumnType::Decimal
                | ColumnType::Timestamp
                | ColumnType::Date
                | ColumnType::Uuid
                | ColumnType::Json
        ))
    .then(|| sql_type(backend, kind));
    let bound = match (kind, value) {
        // A null is bound with the column's own type: PostgreSQL refuses text into a number.
        (ColumnType::Integer, Json::Null) => Value::BigInt(None),
        (ColumnType::Real, Json::Null) => Value::Double(None),
        (ColumnType::Boolean, Json::Null) => Value::Bool(None),
        (_, Json::Null) => Value::String(None),
        (ColumnType::Integer, Json::Number(n)) => Value::BigInt(n.as_i64()),
        (ColumnType::Real, Json::Number(n)) => Value::Double(n.as_f64()),
        (ColumnType::Boolean, Json::Bool(b)) => Value::Bool(Some(*b)),
        (ColumnType::Json, other) => Value::String(Some(other.to_string())),
        (_, Json::String(text)) => Value::String(Some(text.clone())),
        (_, other) => Value::String(Some(other.to_string())),
    };
    (bound, cast)
}
