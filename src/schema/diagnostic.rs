//! One schema mistake, located by file, line and column, role or table, and column, with a
//! likely fix.

use crate::key_positions::{KeyPositions, Position, quoted_words};
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// Where in the file: the key or value the message is about, else its entry.
    pub at: Option<Position>,
    pub role: Option<String>,
    pub table: Option<String>,
    pub column: Option<String>,
    pub message: String,
    /// A likely fix ("did you mean `price`?"), shown after the message.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn in_file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            at: None,
            role: None,
            table: None,
            column: None,
            message: message.into(),
            help: None,
        }
    }

    pub fn at(mut self, at: Position) -> Self {
        self.at = Some(at);
        self
    }

    pub fn role(mut self, role: &str) -> Self {
        self.role = Some(role.to_string());
        self
    }

    pub fn table(mut self, table: &str) -> Self {
        self.table = Some(table.to_string());
        self
    }

    pub fn column(mut self, column: &str) -> Self {
        self.column = Some(column.to_string());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds "did you mean `X`?" when one of `candidates` is close to `typed`.
    pub fn suggest<'a>(self, typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        match crate::suggest::did_you_mean(typed, candidates) {
            Some(best) => self.help(format!("did you mean `{best}`?")),
            None => self,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(at) = &self.at {
            write!(f, ":{at}")?;
        }
        if let Some(role) = &self.role {
            write!(f, ": role `{role}`")?;
        }
        if let Some(table) = &self.table {
            write!(f, ": table `{table}`")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column `{column}`")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, " — {help}")?;
        }
        Ok(())
    }
}

/// Every mistake found in the schema files, in the order found.
#[derive(Debug, Clone, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "the sync schema has {count} error{}:",
            if count == 1 { "" } else { "s" }
        )?;
        for diagnostic in &self.0 {
            write!(f, "\n  - {diagnostic}")?;
        }
        Ok(())
    }
}

impl Diagnostic {
    /// Sets `help` unless a suggestion already filled it.
    pub fn help_if_none(self, help: impl Into<String>) -> Self {
        if self.help.is_some() {
            self
        } else {
            self.help(help)
        }
    }
}

impl Diagnostics {
    /// Fills in where each mistake is written: the key or value its message quotes inside its
    /// role, table or column, else that entry's own key (files are read once each).
    pub fn locate(mut self) -> Self {
        let mut files: HashMap<PathBuf, Option<KeyPositions>> = HashMap::new();
        for diagnostic in &mut self.0 {
            if diagnostic.at.is_some() {
                continue;
            }
            let path: Vec<&str> = match (&diagnostic.role, &diagnostic.table, &diagnostic.column) {
                (Some(role), _, _) => vec!["roles", role],
                (None, Some(table), Some(column)) => vec!["tables", table, "columns", column],
                (None, Some(table), None) => vec!["tables", table],
                (None, None, _) => continue,
            };
            let positions = files
                .entry(diagnostic.file.clone())
                .or_insert_with(|| KeyPositions::of_file(&diagnostic.file));
            let words = quoted_words(&diagnostic.message);
            diagnostic.at = positions.as_ref().and_then(|p| p.find(&path, words));
        }
        self
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Self {
        Diagnostics(vec![diagnostic])
    }
}
