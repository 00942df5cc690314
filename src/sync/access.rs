//! Which tables a caller may use, with which operations, and which of their rows.

use super::SyncError;
use crate::auth::Caller;
use crate::schema::model::{Column, ColumnType, NamedScope, Scope};
use crate::schema::values;
use crate::schema::{Permissions, Schema, TableDef};
use crate::store::RowScope;
use crate::store::row_scope::{Admission, ParentScope};
use serde_json::Value;

/// The caller's access to one table.
pub struct Access<'a> {
    pub table: &'a TableDef,
    pub permissions: Permissions,
    pub scope: RowScope,
    /// The tables the rows take their scope from (`scope_from`), nearest first: where a row's
    /// parent is looked up to decide whether it is in scope.
    pub parents: Vec<&'a TableDef>,
}

impl<'a> Access<'a> {
    /// Every operation on every row: for the gateway's own writes (rows pulled from the hub).
    pub fn unrestricted(table: &'a TableDef) -> Self {
        Self {
            table,
            permissions: Permissions {
                create: true,
                read: true,
                update: true,
                delete: true,
            },
            scope: RowScope::All,
            parents: Vec::new(),
        }
    }
}

/// The caller's access to `table`. A table the caller's role has no permission on does not
/// exist for it: the answer is the same as for a table not in the schema.
pub fn access<'a>(
    schema: &'a Schema,
    caller: &Caller,
    table: &str,
) -> Result<Access<'a>, SyncError> {
    let role = schema.roles.get(&caller.role).ok_or_else(|| {
        SyncError::Forbidden(format!(
            "the role `{}` in your token is not declared in the sync schema",
            caller.role
        ))
    })?;
    let found = schema
        .table(table)
        .filter(|t| t.permissions_for(&caller.role).any());
    let Some(table_def) = found else {
        return Err(SyncError::UnknownTable {
            table: table.to_string(),
            available: usable_tables(schema, caller),
        });
    };
    Ok(Access {
        table: table_def,
        permissions: table_def.permissions_for(&caller.role),
        scope: scope_of(
            schema,
            caller,
            &effective_scope(caller, &role.spec.scope),
            table_def,
        ),
        parents: schema.parents(table_def),
    })
}

/// The caller's role; a role the schema does not declare may do nothing.
fn role_of<'a>(
    schema: &'a Schema,
    caller: &Caller,
) -> Result<&'a crate::schema::RoleDef, SyncError> {
    schema.roles.get(&caller.role).ok_or_else(|| {
        SyncError::Forbidden(format!(
            "the role `{}` in your token is not declared in the sync schema",
            caller.role
        ))
    })
}

/// The scope the caller reads and writes with: its role's, or `branch` when its reads are
/// narrowed to one branch.
fn effective_scope(caller: &Caller, scope: &Scope) -> Scope {
    if caller.reads_one_branch {
        Scope::Named(NamedScope::Branch)
    } else {
        scope.clone()
    }
}

/// The caller, reading only the rows of `branch` (the changes feed's `branch=`): a role scoped
/// `all` reads as if scoped `branch` with that `branch` claim (an edge serving several branches
/// takes one snapshot per branch this way); a role scoped `branch` may name its own branch
/// only, and other scopes cannot be narrowed.
pub fn narrowed_to_branch(
    schema: &Schema,
    caller: &Caller,
    branch: &str,
) -> Result<Caller, SyncError> {
    let role = role_of(schema, caller)?;
    match &role.spec.scope {
        Scope::Named(NamedScope::All) => {
            let value = Value::String(branch.to_string());
            let mut narrowed = caller.clone();
            narrowed.claims.insert("branch".into(), value.clone());
            narrowed.branch = Some(value);
            narrowed.reads_one_branch = true;
            Ok(narrowed)
        }
        Scope::Named(NamedScope::Branch) if caller.branch_text().as_deref() == Some(branch) => {
            Ok(caller.clone())
        }
        Scope::Named(NamedScope::Branch) => Err(SyncError::Forbidden(format!(
            "your token reads branch `{}` only, not `{branch}`",
            caller.branch_text().unwrap_or_default()
        ))),
        _ => Err(SyncError::invalid(
            "branch",
            format!(
                "`branch` narrows the view of a role scoped `all` or `branch`; role `{}` has \
                 another scope",
                caller.role
            ),
        )),
    }
}

/// Tables the caller's role has any permission on, in schema order.
pub fn usable_tables(schema: &Schema, caller: &Caller) -> Vec<String> {
    schema
        .tables
        .values()
        .filter(|table| table.permissions_for(&caller.role).any())
        .map(|table| table.name.clone())
        .collect()
}

/// Access to every table the caller may read, or to the `requested` ones (each must be
/// readable; a table named twice counts once, so a long list cannot make one read many).
pub fn readable<'a>(
    schema: &'a Schema,
    caller: &Caller,
    requested: Option<&[String]>,
) -> Result<Vec<Access<'a>>, SyncError> {
    role_of(schema, caller)?;
    let names: Vec<String> = match requested {
        Some(names) => {
            let mut seen = std::collections::HashSet::new();
            names
                .iter()
                .filter(|name| seen.insert(name.as_str()))
                .cloned()
                .collect()
        }
        None => schema
            .tables
            .values()
            .filter(|table| table.permissions_for(&caller.role).read)
            .map(|table| table.name.clone())
            .collect(),
    };
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let access = access(schema, caller, &name)?;
        if !access.permissions.read {
            return Err(SyncError::Forbidden(format!(
                "your role `{}` may not read table `{name}`",
                caller.role
            )));
        }
        tables.push(access);
    }
    Ok(tables)
}

/// The live row `key` of the table if the caller may read it: read permission, not deleted,
/// within the caller's scope. `None` otherwise, whatever the reason, so that a caller cannot
/// tell another scope's row from a missing one.
pub async fn visible_row(
    db: &impl sea_orm::ConnectionTrait,
    access: &Access<'_>,
    key: &serde_json::Value,
) -> Result<Option<crate::store::rows::StoredRow>, sea_orm::DbErr> {
    if !access.permissions.read {
        return Ok(None);
    }
    match crate::store::rows::find(db, access.table, key).await? {
        Some(row) if !row.deleted && admits(db, access, &row.values).await? => Ok(Some(row)),
        _ => Ok(None),
    }
}

/// Whether `row` of `access.table` is in the caller's scope, looking up its parents (as stored)
/// when it takes its scope from them.
pub async fn admits(
    db: &impl sea_orm::ConnectionTrait,
    access: &Access<'_>,
    row: &serde_json::Map<String, Value>,
) -> Result<bool, sea_orm::DbErr> {
    let (mut parent_scope, mut key) = match access.scope.admits(row) {
        Admission::Yes => return Ok(true),
        Admission::No => return Ok(false),
        Admission::IfParent(parent_scope, key) => (parent_scope, key.clone()),
    };
    for parent in &access.parents {
        let Some(found) = crate::store::rows::find(db, parent, &key).await? else {
            return Ok(false);
        };
        match parent_scope.scope.admits(&found.values) {
            Admission::Yes => return Ok(true),
            Admission::No => return Ok(false),
            Admission::IfParent(next, next_key) => (parent_scope, key) = (next, next_key.clone()),
        }
    }
    Ok(false)
}

/// The rows of `table` that `caller`'s role (with `scope`) reaches, through the table's parents
/// when it takes its scope from them.
pub fn scope_of(schema: &Schema, caller: &Caller, scope: &Scope, table: &TableDef) -> RowScope {
    let Some(from) = &table.spec.scope_from else {
        return row_scope(caller, scope, table);
    };
    let Some(parent) = schema.table(&from.table) else {
        return RowScope::Equals {
            column: String::new(),
            kind: ColumnType::Text,
            value: None,
            assignees: None,
        };
    };
    // A cycle is refused by `syncgate check`; should one be served anyway, it reaches nothing.
    let parent_scope = if schema.parents(table).len() < schema.parents(parent).len() + 1 {
        RowScope::Equals {
            column: String::new(),
            kind: ColumnType::Text,
            value: None,
            assignees: None,
        }
    } else {
        scope_of(schema, caller, scope, parent)
    };
    if parent_scope == RowScope::All {
        return RowScope::All;
    }
    let key = parent.spec.primary_key.clone();
    RowScope::Parent(Box::new(ParentScope {
        column: from.column.clone(),
        table: parent.name.clone(),
        key_kind: parent
            .spec
            .columns
            .get(&key)
            .map_or(ColumnType::Text, |c| c.kind),
        key,
        scope: parent_scope,
    }))
}

/// The rows of `table` that `caller`'s role (with `scope`) reaches by the table's own columns.
fn row_scope(caller: &Caller, scope: &Scope, table: &TableDef) -> RowScope {
    if table.spec.shared {
        return RowScope::All;
    }
    let (column, claim) = match scope {
        Scope::Named(NamedScope::All) => return RowScope::All,
        Scope::Named(NamedScope::Branch) => (table.spec.branch_column.as_deref(), "branch"),
        Scope::Named(NamedScope::Owner) => (table.spec.owner_column.as_deref(), "sub"),
        Scope::Claim(rule) => (Some(rule.column.as_str()), rule.claim.as_str()),
    };
    let Some(column) = column else {
        return RowScope::Equals {
            column: String::new(),
            kind: ColumnType::Text,
            value: None,
            assignees: None,
        };
    };
    let assignees = match scope {
        Scope::Named(NamedScope::Owner) => table.spec.assignees_column.clone(),
        _ => None,
    };
    let declared = table.spec.columns.get(column);
    let value = declared
        .zip(caller.claims.get(claim))
        .and_then(|(declared, claim)| claim_as_column_value(declared, claim));
    RowScope::Equals {
        column: column.to_string(),
        kind: declared.map_or(ColumnType::Text, |declared| declared.kind),
        value,
        assignees,
    }
}

/// A claim converted to the type of the column it is compared with (a `branch` claim of "3"
/// matches an integer branch column holding 3); `None` when it cannot be.
fn claim_as_column_value(column: &Column, claim: &Value) -> Option<Value> {
    let candidate = match (column.kind, claim) {
        (_, Value::Null) => return None,
        (ColumnType::Integer, Value::String(text)) => Value::from(text.trim().parse::<i64>().ok()?),
        (ColumnType::Real | ColumnType::Decimal, Value::String(text)) => {
            serde_json::Number::from_f64(text.trim().parse::<f64>().ok()?).map(Value::Number)?
        }
        (ColumnType::Text | ColumnType::Enum | ColumnType::Uuid, Value::Number(n)) => {
            Value::String(n.to_string())
        }
        (_, other) => other.clone(),
    };
    let lenient = Column {
        nullable: false,
        min: None,
        max: None,
        min_length: None,
        max_length: None,
        ..column.clone()
    };
    values::check_value(&lenient, &candidate).ok()?;
    Some(values::normalize(column, candidate))
}
