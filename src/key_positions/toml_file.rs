//! Key and string-value positions of a TOML file, from the spans `toml`'s parser keeps.

use super::Spot;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub(super) fn spots(text: &str) -> Option<Vec<Spot>> {
    let root = DeTable::parse(text).ok()?;
    let mut spots = Vec::new();
    walk_table(root.get_ref(), &mut Vec::new(), &mut spots);
    spots.sort_by_key(|spot| spot.offset);
    Some(spots)
}

fn walk_table(table: &DeTable<'_>, path: &mut Vec<String>, spots: &mut Vec<Spot>) {
    for (key, value) in table {
        path.push(key.get_ref().to_string());
        spots.push(Spot {
            path: path.clone(),
            text: key.get_ref().to_string(),
            is_key: true,
            offset: key.span().start,
        });
        walk_value(value, path, spots);
        path.pop();
    }
}

fn walk_value(value: &Spanned<DeValue<'_>>, path: &mut Vec<String>, spots: &mut Vec<Spot>) {
    match value.get_ref() {
        DeValue::String(text) => spots.push(Spot {
            path: path.clone(),
            text: text.to_string(),
            is_key: false,
            offset: value.span().start,
        }),
        DeValue::Table(table) => walk_table(table, path, spots),
        DeValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(index.to_string());
                walk_value(item, path, spots);
                path.pop();
            }
        }
        _ => {}
    }
}
