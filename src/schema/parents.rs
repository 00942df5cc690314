//! Tables that take their scope from a parent table (`scope_from`): the chain of parents a
//! table's rows are scoped through, and the checks that chain must pass.

use super::model::{NamedScope, Scope};
use super::{Diagnostic, Schema, TableDef};

impl Schema {
    /// The tables `table`'s rows take their scope from, nearest first (a photo's form fill, then
    /// its inspection); empty for a table scoped by its own columns. A checked schema has no
    /// cycle; should one slip through, the chain stops before a table repeats.
    pub fn parents<'a>(&'a self, table: &TableDef) -> Vec<&'a TableDef> {
        let mut chain: Vec<&TableDef> = Vec::new();
        let mut link = table.spec.scope_from.as_ref();
        while let Some(from) = link {
            let Some(parent) = self.table(&from.table) else {
                break;
            };
            if parent.name == table.name || chain.iter().any(|seen| seen.name == parent.name) {
                break;
            }
            chain.push(parent);
            link = parent.spec.scope_from.as_ref();
        }
        chain
    }

    /// The columns of `table` that decide which rows some role reaches: its branch, owner and
    /// assignees columns and the columns of claim rules, for every role that uses the table or a
    /// table scoped through it; for a table scoped through a parent, the column naming the parent.
    /// A write that changes one of them may move the row, and the rows scoped through it, out of a
    /// reader's view.
    pub fn scope_columns(&self, table: &TableDef) -> Vec<String> {
        if table.spec.shared {
            return Vec::new();
        }
        let mut columns: Vec<String> = Vec::new();
        let mut add = |column: Option<&String>| {
            if let Some(column) = column
                && table.spec.columns.contains_key(column)
                && !columns.contains(column)
            {
                columns.push(column.clone());
            }
        };
        for (name, role) in &self.roles {
            let uses = self.tables.values().any(|user| {
                user.permissions_for(name).any()
                    && (user.name == table.name
                        || self.parents(user).iter().any(|p| p.name == table.name))
            });
            if !uses {
                continue;
            }
            match &role.spec.scope {
                Scope::Named(NamedScope::All) => {}
                _ if table.spec.scope_from.is_some() => {
                    add(table.spec.scope_from.as_ref().map(|from| &from.column))
                }
                Scope::Named(NamedScope::Branch) => add(table.spec.branch_column.as_ref()),
                Scope::Named(NamedScope::Owner) => {
                    add(table.spec.owner_column.as_ref());
                    add(table.spec.assignees_column.as_ref());
                }
                Scope::Claim(rule) => add(Some(&rule.column)),
            }
        }
        columns
    }

    /// The table whose own columns decide which rows of `table` a role reaches: its last parent,
    /// or itself.
    pub fn scope_root<'a>(&'a self, table: &'a TableDef) -> &'a TableDef {
        self.parents(table).last().copied().unwrap_or(table)
    }
}

/// Checks every `scope_from`: the parent exists, the column exists with the parent key's type,
/// the table declares no scope columns of its own, the chain has no cycle, and the chain's root
/// can scope every role that uses the table.
pub(super) fn check(schema: &Schema, diagnostics: &mut Vec<Diagnostic>) {
    for table in schema.tables.values() {
        let Some(from) = &table.spec.scope_from else {
            continue;
        };
        let at = || Diagnostic::in_file(&table.file, "").table(&table.name);
        let say = |message: String| Diagnostic { message, ..at() };
        let Some(parent) = schema.table(&from.table) else {
            let names = schema.tables.keys().map(String::as_str);
            diagnostics.push(
                say(format!(
                    "`scope_from` names table `{}`, which is not in the schema",
                    from.table
                ))
                .suggest(&from.table, names),
            );
            continue;
        };
        match table.spec.columns.get(&from.column) {
            None => diagnostics.push(
                say(format!(
                    "`scope_from` names column `{}`, which is not a column",
                    from.column
                ))
                .suggest(&from.column, table.spec.columns.keys().map(String::as_str)),
            ),
            Some(column) => {
                let key = &parent.spec.columns.get(&parent.spec.primary_key);
                if let Some(key) = key
                    && key.kind != column.kind
                {
                    diagnostics.push(
                        Diagnostic {
                            message: format!(
                                "`scope_from` column `{}` is {} but the primary key of `{}` is {}",
                                from.column,
                                column.kind.name(),
                                parent.name,
                                key.kind.name()
                            ),
                            ..at().column(&from.column)
                        }
                        .help(format!(
                            "declare `{}` as {}",
                            from.column,
                            key.kind.name()
                        )),
                    );
                }
            }
        }
        let own: Vec<&str> = [
            ("branch_column", &table.spec.branch_column),
            ("owner_column", &table.spec.owner_column),
            ("assignees_column", &table.spec.assignees_column),
        ]
        .into_iter()
        .filter_map(|(key, named)| named.as_ref().map(|_| key))
        .chain(table.spec.shared.then_some("shared"))
        .collect();
        if !own.is_empty() {
            diagnostics.push(
                say(format!(
                    "the table takes its scope from `{}` (`scope_from`) and also declares {}",
                    parent.name,
                    own.iter()
                        .map(|key| format!("`{key}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .help("a row's scope comes from one place: remove these keys, or `scope_from`"),
            );
        }
        if let Some(cycle) = cycle_from(schema, table) {
            diagnostics.push(
                say(format!(
                    "`scope_from` makes a cycle: {}",
                    cycle.join(" → ")
                ))
                .help("the last table of a chain must be scoped by its own columns (`branch_column`, `owner_column`, a claim column) or be `shared`"),
            );
            continue;
        }
        check_root_scopes(schema, table, diagnostics);
    }
}

/// The cycle `table`'s chain of parents runs into, as table names from `table`, if any.
fn cycle_from(schema: &Schema, table: &TableDef) -> Option<Vec<String>> {
    let mut names = vec![table.name.clone()];
    let mut link = table.spec.scope_from.as_ref();
    while let Some(from) = link {
        let parent = schema.table(&from.table)?;
        let repeated = names.contains(&parent.name);
        names.push(parent.name.clone());
        if repeated {
            return Some(names);
        }
        link = parent.spec.scope_from.as_ref();
    }
    None
}

/// Every scoped role that uses `table` needs its scope column on the chain's root, as it would
/// on the table itself.
fn check_root_scopes(schema: &Schema, table: &TableDef, diagnostics: &mut Vec<Diagnostic>) {
    let root = schema.scope_root(table);
    if root.spec.shared {
        return;
    }
    for (role, permissions) in &table.permissions {
        if !permissions.any() {
            continue;
        }
        let missing = match schema.roles.get(role).map(|role| &role.spec.scope) {
            Some(Scope::Named(NamedScope::Branch)) if root.spec.branch_column.is_none() => {
                Some("`branch_column`".to_string())
            }
            Some(Scope::Named(NamedScope::Owner)) if root.spec.owner_column.is_none() => {
                Some("`owner_column`".to_string())
            }
            Some(Scope::Claim(rule)) if !root.spec.columns.contains_key(&rule.column) => {
                Some(format!("column `{}`", rule.column))
            }
            _ => None,
        };
        if let Some(needed) = missing {
            diagnostics.push(
                Diagnostic::in_file(
                    &table.file,
                    format!(
                        "role `{role}` uses the table, whose rows take their scope from `{}`, but `{}` has no {needed} to scope them by",
                        table.spec.scope_from.as_ref().map_or("", |from| from.table.as_str()),
                        root.name
                    ),
                )
                .table(&table.name)
                .help(format!("declare {needed} on `{}`, or take the role's permission off this table", root.name)),
            );
        }
    }
}
