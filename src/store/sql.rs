//! A statement under construction: SQL text with placeholders numbered for the backend, and the
//! values bound to them.

use sea_orm::{DbBackend, Statement, Value};

pub struct SqlBuilder {
    pub backend: DbBackend,
    pub sql: String,
    values: Vec<Value>,
}

impl SqlBuilder {
    pub fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            sql: String::new(),
            values: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    /// Appends a placeholder for `value`, wrapped in `CAST(… AS cast)` when given.
    pub fn bind(&mut self, value: Value, cast: Option<&str>) -> &mut Self {
        self.values.push(value);
        let placeholder = match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_string(),
        };
        match cast {
            Some(sql_type) => self
                .sql
                .push_str(&format!("CAST({placeholder} AS {sql_type})")),
            None => self.sql.push_str(&placeholder),
        }
        self
    }

    /// Appends placeholders for `values`, separated by commas (a VALUES row, an IN list).
    pub fn bind_list(&mut self, values: impl IntoIterator<Item = Value>) -> &mut Self {
        for (index, value) in values.into_iter().enumerate() {
            if index > 0 {
                self.push(", ");
            }
            self.bind(value, None);
        }
        self
    }

    pub fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.sql, self.values)
    }
}
