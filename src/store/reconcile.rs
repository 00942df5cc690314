//! Bringing the database's tables in line with the schema: create missing tables, add new
//! columns, and refuse — never apply — any difference that could lose data (a dropped column, a
//! changed type, a changed primary key, a column made required while rows hold null).

use super::StoreError;
use super::ddl::{self, SYSTEM_COLUMNS};
use super::external;
use super::introspect::{self, PhysicalTable, RecordedColumn, RecordedTable};
use crate::schema::{Schema, TableDef};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// What applying the schema would do.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan {
    pub changes: Vec<TableChange>,
    /// Differences that could lose data; when any is present nothing is applied.
    pub refusals: Vec<String>,
    /// Tables the gateway created earlier that the schema no longer declares. Left as they are.
    pub undeclared: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TableChange {
    Create {
        table: String,
    },
    AddColumn {
        table: String,
        column: String,
    },
    AddSystemColumn {
        table: String,
        column: &'static str,
    },
    /// A table another application created, declared in the schema: the gateway adds its system
    /// columns and gives each existing row a feed position; its other columns stay as they are.
    Adopt {
        table: String,
        rows: i64,
    },
}

impl std::fmt::Display for TableChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableChange::Create { table } => write!(f, "create table `{table}`"),
            TableChange::AddColumn { table, column } => {
                write!(f, "add column `{column}` to table `{table}`")
            }
            TableChange::AddSystemColumn { table, column } => {
                write!(f, "add system column `{column}` to table `{table}`")
            }
            TableChange::Adopt { table, rows } => write!(
                f,
                "adopt table `{table}`, created outside syncgate: give its {rows} rows feed \
                 positions and log other programs' writes to it (triggers)"
            ),
        }
    }
}

/// Compares the schema with the database without changing anything.
pub async fn plan(db: &impl ConnectionTrait, schema: &Schema) -> Result<Plan, StoreError> {
    let backend = db.get_database_backend();
    let recorded = introspect::recorded_tables(db).await?;
    let mut plan = Plan::default();
    for table in schema.tables.values() {
        match introspect::physical_table(db, &table.name).await? {
            None => plan.changes.push(TableChange::Create {
                table: table.name.clone(),
            }),
            Some(physical) => {
                compare(
                    db,
                    backend,
                    table,
                    &physical,
                    recorded.get(&table.name),
                    &mut plan,
                )
                .await?
            }
        }
    }
    plan.undeclared = recorded
        .keys()
        .filter(|name| !schema.tables.contains_key(*name))
        .cloned()
        .collect();
    Ok(plan)
}

async fn compare(
    db: &impl ConnectionTrait,
    backend: DbBackend,
    table: &TableDef,
    physical: &PhysicalTable,
    recorded: Option<&RecordedTable>,
    plan: &mut Plan,
) -> Result<(), StoreError> {
    let name = &table.name;
    let spec = &table.spec;
    if physical.primary_key != [spec.primary_key.clone()] {
        plan.refusals.push(format!(
            "table `{name}`: the primary key is `{}` in the database but `{}` in the schema; \
             changing it would rebuild every row. Restore `primary_key = \"{}\"`, or migrate the \
             table yourself",
            physical.primary_key.join(", "),
            spec.primary_key,
            physical.primary_key.join(", "),
        ));
    }
    let mut row_count = None;
    if recorded.is_none() {
        let rows = *row_count.insert(introspect::count_nulls(db, name, None).await?);
        plan.changes.push(TableChange::Adopt {
            table: name.clone(),
            rows,
        });
    }
    for (column_name, column) in &spec.columns {
        let declared = column.kind.name();
        let before = recorded.and_then(|r| r.columns.get(column_name));
        match physical.columns.get(column_name) {
            None => {
                if !column.nullable && column.default.is_none() {
                    let rows = match row_count {
                        Some(rows) => rows,
                        None => *row_count.insert(introspect::count_nulls(db, name, None).await?),
                    };
                    if rows > 0 {
                        plan.refusals.push(format!(
                            "table `{name}`, column `{column_name}`: the new column is required \
                             (not nullable, no default) but the table already has {rows} rows, \
                             which would hold null. Add `nullable = true` or a `default`"
                        ));
                        continue;
                    }
                }
                plan.changes.push(TableChange::AddColumn {
                    table: name.clone(),
                    column: column_name.clone(),
                });
            }
            Some(reported) => {
                let expected = ddl::reported_type(backend, column.kind);
                let previous = before.map(|b| b.kind.as_str());
                if previous.is_none() && !ddl::accepts(backend, column.kind, reported) {
                    // A table another application created: say what would fit.
                    plan.refusals.push(format!(
                        "table `{name}`, column `{column_name}`: the database has it as \
                         `{reported}`, which cannot hold the declared type `{declared}` as it \
                         is (syncgate stores `{declared}` as `{expected}`). Declare the type \
                         that matches the values, or {fix}",
                        fix = match backend {
                            DbBackend::Postgres => format!(
                                "convert the column yourself (ALTER TABLE \"{name}\" ALTER \
                                 COLUMN \"{column_name}\" TYPE {})",
                                ddl::sql_type(backend, column.kind)
                            ),
                            _ => "add a column of that type and copy the values (SQLite cannot \
                                  change a column's type)"
                                .to_string(),
                        },
                    ));
                    continue;
                }
                if !ddl::accepts(backend, column.kind, reported)
                    || previous.is_some_and(|p| p != declared)
                {
                    let was = previous.unwrap_or(reported);
                    plan.refusals.push(format!(
                        "table `{name}`, column `{column_name}`: the type changed from {was} to \
                         {declared}; existing values may not convert. Restore `type = \"{was}\"`, \
                         or add a new column and copy the values yourself"
                    ));
                    continue;
                }
                let was_nullable = before.is_none_or(|b| b.nullable);
                if was_nullable && !column.nullable && column.default.is_none() {
                    let nulls = introspect::count_nulls(db, name, Some(column_name)).await?;
                    if nulls > 0 {
                        plan.refusals.push(format!(
                            "table `{name}`, column `{column_name}`: the column is no longer \
                             nullable but {nulls} rows hold null. Keep `nullable = true`, add a \
                             `default`, or fill those rows first"
                        ));
                    }
                }
            }
        }
    }
    for column_name in physical.columns.keys() {
        // A column the gateway never had is another application's: it is left alone.
        let was_declared = recorded.is_some_and(|r| r.columns.contains_key(column_name));
        if ddl::is_system_column(column_name)
            || spec.columns.contains_key(column_name)
            || !was_declared
        {
            continue;
        }
        plan.refusals.push(format!(
            "table `{name}`, column `{column_name}`: the column is in the database but no longer in \
             the schema; dropping it would lose its data. Put it back in the schema, or drop it \
             yourself (ALTER TABLE \"{name}\" DROP COLUMN \"{column_name}\") if the data may go"
        ));
    }
    for system in SYSTEM_COLUMNS {
        if !physical.columns.contains_key(system.name) {
            plan.changes.push(TableChange::AddSystemColumn {
                table: name.clone(),
                column: system.name,
            });
        }
    }
    Ok(())
}

/// Plans and applies the schema in one transaction (on PostgreSQL under an advisory lock, so
/// replicas starting together do not race), and records its layout in `syncgate_tables`.
/// Refuses, changing nothing, when the plan has refusals. Returns what was done.
///
/// With `external_writes`, every declared table gets the triggers that log writes other
/// connections make (`store::external`), and rows without a feed position (a table adopted with
/// its rows) get one; without, the triggers are removed.
pub async fn reconcile(
    db: &DatabaseConnection,
    schema: &Schema,
    external_writes: bool,
) -> Result<Plan, StoreError> {
    let backend = db.get_database_backend();
    let (txn, _turn) = super::feed::begin_write(db).await?;
    if backend == DbBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})"))
            .await?;
    } else {
        // Take SQLite's write lock before reading, so that a second gateway on the same file
        // waits here instead of failing when its read transaction tries to write.
        txn.execute_unprepared("UPDATE syncgate_sequence SET value = value WHERE name = 'feed'")
            .await?;
    }
    let plan = plan(&txn, schema).await?;
    if !plan.refusals.is_empty() {
        return Err(StoreError::UnsafeSchemaChange(plan.refusals.clone()));
    }
    for change in &plan.changes {
        match change {
            TableChange::Create { table } => {
                for sql in ddl::create_table(backend, &schema.tables[table]) {
                    txn.execute_unprepared(&sql).await?;
                }
            }
            TableChange::AddColumn { table, column } => {
                let declared = &schema.tables[table].spec.columns[column];
                txn.execute_unprepared(&ddl::add_column(backend, table, column, declared))
                    .await?;
                if let Some(default) = &declared.default {
                    // Filling the new column is no external write.
                    for sql in external::remove(backend, table) {
                        txn.execute_unprepared(&sql).await?;
                    }
                    txn.execute_raw(ddl::fill_column(backend, table, column, declared, default))
                        .await?;
                }
            }
            // Done for every table below, once the columns are there.
            TableChange::Adopt { .. } => {}
            TableChange::AddSystemColumn { table, column } => {
                let system = SYSTEM_COLUMNS
                    .iter()
                    .find(|system| system.name == *column)
                    .expect("planned from SYSTEM_COLUMNS");
                txn.execute_unprepared(&ddl::add_system_column(backend, table, system))
                    .await?;
                if *column == "_sg_seq" {
                    txn.execute_unprepared(&ddl::seq_index(table)).await?;
                }
            }
        }
    }
    for table in schema.tables.values() {
        if let Some(from) = &table.spec.scope_from {
            txn.execute_unprepared(&ddl::parent_index(&table.name, &from.column))
                .await?;
        }
        record(&txn, backend, table).await?;
    }
    let now = chrono::Utc::now().timestamp_millis();
    for table in schema.tables.values() {
        let placed = external::position_unplaced(&txn, table, now).await?;
        if placed > 0 {
            tracing::info!(
                table = %table.name,
                rows = placed,
                "rows without a feed position were given one"
            );
        }
        let statements = if external_writes {
            external::install(backend, schema, table)
        } else {
            external::remove(backend, &table.name)
        };
        for sql in statements {
            txn.execute_unprepared(&sql).await?;
        }
    }
    for table in &plan.undeclared {
        if introspect::physical_table(&txn, table).await?.is_some() {
            for sql in external::remove(backend, table) {
                txn.execute_unprepared(&sql).await?;
            }
        }
    }
    txn.commit().await?;
    Ok(plan)
}

/// Advisory lock key held while the schema is applied ("sgschema" in ASCII).
const SCHEMA_LOCK_KEY: i64 = 0x7367_7363_6865_6d61;

async fn record(
    db: &impl ConnectionTrait,
    backend: DbBackend,
    table: &TableDef,
) -> Result<(), StoreError> {
    let layout = RecordedTable {
        primary_key: table.spec.primary_key.clone(),
        columns: table
            .spec
            .columns
            .iter()
            .map(|(name, column)| {
                let recorded = RecordedColumn {
                    kind: column.kind.name().to_string(),
                    nullable: column.nullable,
                };
                (name.clone(), recorded)
            })
            .collect(),
    };
    let columns = serde_json::to_string(&layout.columns).expect("a layout serialises");
    let now = chrono::Utc::now().to_rfc3339();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO syncgate_tables (name, primary_key, columns, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET \
             primary_key = EXCLUDED.primary_key, columns = EXCLUDED.columns, \
             updated_at = EXCLUDED.updated_at"
        }
        _ => {
            "INSERT INTO syncgate_tables (name, primary_key, columns, updated_at) \
             VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET \
             primary_key = excluded.primary_key, columns = excluded.columns, \
             updated_at = excluded.updated_at"
        }
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [
            table.name.clone().into(),
            layout.primary_key.into(),
            columns.into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(())
}
