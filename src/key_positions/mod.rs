//! Where a key or value is written in a TOML or JSON file, so that an error about a parsed
//! setting can name the line and column a person has to edit.

mod json_file;
mod toml_file;

use std::fmt;
use std::path::Path;

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text`.
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let before = &text[..floor_char_boundary(text, offset.min(text.len()))];
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// One key, or one string value, with its path from the top of the file.
#[derive(Debug)]
struct Spot {
    /// For a key, the path including it; for a value, the path of the value.
    path: Vec<String>,
    text: String,
    is_key: bool,
    offset: usize,
}

/// Every key and string value of a parsed file, in file order.
pub struct KeyPositions {
    text: String,
    spots: Vec<Spot>,
}

impl KeyPositions {
    /// Reads `file` (TOML unless it ends in `.json`); `None` when it cannot be read or parsed.
    pub fn of_file(file: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(file).ok()?;
        let json = file.extension().and_then(|ext| ext.to_str()) == Some("json");
        Self::of_text(text, json)
    }

    pub fn of_text(text: String, json: bool) -> Option<Self> {
        let spots = if json {
            json_file::spots(&text)?
        } else {
            toml_file::spots(&text)?
        };
        Some(Self { text, spots })
    }

    /// Where to point for a mistake in the entry at `path` whose message quotes `words`: the
    /// first word written inside that entry as a key, else as a string value, else the entry's
    /// own key; `None` when the entry is not in the file.
    pub fn find<'a>(
        &self,
        path: &[&str],
        words: impl IntoIterator<Item = &'a str>,
    ) -> Option<Position> {
        let inside = |spot: &&Spot| {
            spot.path.len() > path.len() && spot.path.iter().zip(path).all(|(a, b)| a == b)
        };
        let within: Vec<&Spot> = self.spots.iter().filter(inside).collect();
        let words: Vec<&str> = words.into_iter().collect();
        let found = [true, false]
            .into_iter()
            .find_map(|keys| {
                words.iter().find_map(|word| {
                    within
                        .iter()
                        .find(|spot| spot.is_key == keys && spot.text == *word)
                })
            })
            .copied()
            .or_else(|| {
                self.spots
                    .iter()
                    .find(|spot| spot.is_key && spot.path.iter().eq(path.iter()))
            })?;
        Some(Position::of_offset(&self.text, found.offset))
    }
}

/// The words a message quotes in backticks, in order.
pub fn quoted_words(message: &str) -> impl Iterator<Item = &str> {
    message.split('`').skip(1).step_by(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = "[tables.products]\nconflict = \"server_winz\"\n\n[tables.products.columns]\nid = { type = \"uuid\" }\nprice = { type = \"decimal\", nulable = true }\n";

    #[test]
    fn finds_keys_and_values_inside_an_entry() {
        let positions = KeyPositions::of_text(TOML.into(), false).unwrap();
        let column = ["tables", "products", "columns", "price"];
        assert_eq!(
            positions.find(&column, ["nulable"]),
            Some(Position {
                line: 6,
                column: 29
            })
        );
        let table = ["tables", "products"];
        assert_eq!(
            positions.find(&table, ["server_winz"]).map(|p| p.line),
            Some(2)
        );
        // Nothing quoted is in the entry: its own key.
        assert_eq!(
            positions.find(&column, ["elsewhere"]).map(|p| p.line),
            Some(6)
        );
        assert_eq!(positions.find(&["tables", "nothing"], ["x"]), None);
    }

    #[test]
    fn finds_the_same_in_json() {
        let text = r#"{
  "tables": {
    "products": {
      "conflict": "server_winz",
      "columns": {
        "id": {"type": "uuid"},
        "price": {"type": "decimal", "nulable": true}
      }
    }
  }
}"#;
        let positions = KeyPositions::of_text(text.into(), true).unwrap();
        let column = ["tables", "products", "columns", "price"];
        assert_eq!(
            positions.find(&column, ["nulable"]),
            Some(Position {
                line: 7,
                column: 38
            })
        );
        assert_eq!(
            positions
                .find(&["tables", "products"], ["server_winz"])
                .map(|p| p.line),
            Some(4)
        );
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(
            Position::of_offset("é = 1\nab", 8),
            Position { line: 2, column: 2 }
        );
    }
}
