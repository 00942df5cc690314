//! The declarative sync schema: its file format ([`model`]), loading and merging the files
//! ([`load`]), the checks behind `syncgate check` ([`validate`]), value checks ([`values`]) and
//! the JSON Schema for editors ([`json_schema`]) and the TypeScript types of the tables for
//! `@syncgate/client` ([`client_types`]).

pub mod client_types;
mod diagnostic;
pub mod json_schema;
pub(crate) mod load;
pub mod model;
mod parents;
mod permissions;
mod validate;
pub mod values;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use load::load_dir;
pub use permissions::Permissions;

use indexmap::IndexMap;
use model::{Role, Table};
use std::path::{Path, PathBuf};

/// Name of the committed JSON Schema file, which sits beside the schema files and is skipped when
/// they are loaded.
/// The schema being served, asked each time it is needed: a reload applies at the next ask
/// (a job's next run, a stream's next read).
pub type CurrentSchema = std::sync::Arc<dyn Fn() -> std::sync::Arc<Schema> + Send + Sync>;

/// Whether a `hooks` entry is a webhook URL rather than a script name.
pub fn is_webhook(name: &str) -> bool {
    name.starts_with("http://") || name.starts_with("https://")
}

pub const JSON_SCHEMA_FILE: &str = "sync-schema.json";

/// A checked schema, merged from every file in the schema directory.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub files: Vec<PathBuf>,
    pub roles: IndexMap<String, RoleDef>,
    pub tables: IndexMap<String, TableDef>,
}

#[derive(Debug, Clone)]
pub struct RoleDef {
    pub file: PathBuf,
    pub spec: Role,
}

#[derive(Debug, Clone)]
pub struct TableDef {
    pub name: String,
    pub file: PathBuf,
    pub spec: Table,
    /// Parsed from `spec.permissions`; roles not listed have none.
    pub permissions: IndexMap<String, Permissions>,
}

impl TableDef {
    /// Whether an insert may leave the key out for the gateway to assign
    /// (`key_assigned_by = "server"`).
    pub fn key_assigned_by_server(&self) -> bool {
        self.spec.key_assigned_by == model::KeyAssignedBy::Server
    }

    /// The primary key column's type.
    pub fn key_kind(&self) -> Option<model::ColumnType> {
        self.spec
            .columns
            .get(&self.spec.primary_key)
            .map(|column| column.kind)
    }

    pub fn permissions_for(&self, role: &str) -> Permissions {
        self.permissions.get(role).copied().unwrap_or_default()
    }

    /// A primary key given as text (a path segment, a form field), in the key column's type.
    pub fn parse_key(&self, raw: &str) -> Result<serde_json::Value, String> {
        let column = &self.spec.columns[&self.spec.primary_key];
        let value = match column.kind {
            model::ColumnType::Integer => raw
                .parse::<i64>()
                .map(serde_json::Value::from)
                .map_err(|_| format!("`{raw}` is not an integer key"))?,
            _ => serde_json::Value::String(raw.to_string()),
        };
        values::check_value(column, &value).map_err(|reason| format!("`{raw}`: {reason}"))?;
        Ok(values::normalize(column, value))
    }
}

impl Schema {
    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.get(name)
    }

    /// The hook plugin files the schema refers to, each once.
    pub fn plugin_files(&self, plugins_dir: &Path) -> Vec<PathBuf> {
        let mut names: Vec<&str> = self
            .tables
            .values()
            .flat_map(|table| table.spec.hooks.iter().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .map(|name| plugins_dir.join(format!("{name}.rhai")))
            .collect()
    }
}
