//! Whether a JSON value fits a declared column: type, null, bounds, length, enum values.
//!
//! Used for declared defaults when the schema loads, and for every value a client writes.

use super::model::{Column, ColumnType};
use chrono::Datelike;
use serde_json::Value;

/// Why `value` does not fit `column`, in words a client can act on.
pub fn check_value(column: &Column, value: &Value) -> Result<(), String> {
    if value.is_null() {
        return if column.nullable {
            Ok(())
        } else {
            Err("null is not allowed: the column is not nullable".into())
        };
    }
    if has_nul(value) {
        return Err("NUL characters (\\u0000) are not allowed".into());
    }
    match column.kind {
        ColumnType::Text => {
            let text = expect_string(value, "a string")?;
            check_length(column, text)
        }
        ColumnType::Integer => {
            let number = value
                .as_i64()
                .ok_or_else(|| format!("expected an integer, got {}", describe(value)))?;
            check_bounds(column, number as f64, &number.to_string())
        }
        ColumnType::Real => {
            let number = value
                .as_f64()
                .filter(|_| value.is_number())
                .ok_or_else(|| format!("expected a number, got {}", describe(value)))?;
            check_bounds(column, number, &value.to_string())
        }
        ColumnType::Decimal => {
            let text = match value {
                Value::Number(number) => number.to_string(),
                Value::String(text) if is_decimal(text) => text.clone(),
                _ => {
                    return Err(format!(
                        "expected a decimal number such as 19.99 or \"19.99\", got {}",
                        describe(value)
                    ));
                }
            };
            let number: f64 = text
                .parse()
                .map_err(|_| "not a decimal number".to_string())?;
            check_bounds(column, number, &text)
        }
        ColumnType::Boolean => value
            .as_bool()
            .map(|_| ())
            .ok_or_else(|| format!("expected true or false, got {}", describe(value))),
        ColumnType::Timestamp => {
            let text = expect_string(value, "an RFC 3339 timestamp string")?;
            let time = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| {
                format!(
                    "expected an RFC 3339 timestamp such as 2026-11-22T10:00:00Z, got \"{text}\""
                )
            })?;
            check_year(time.with_timezone(&chrono::Utc).year())
        }
        ColumnType::Date => {
            let text = expect_string(value, "a date string")?;
            let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| format!("expected a date such as 2026-11-22, got \"{text}\""))?;
            check_year(date.year())
        }
        ColumnType::Uuid => {
            let text = expect_string(value, "a UUID string")?;
            uuid::Uuid::try_parse(text)
                .map(|_| ())
                .map_err(|_| format!("expected a UUID, got \"{text}\""))
        }
        ColumnType::Json => Ok(()),
        ColumnType::Enum => {
            let text = expect_string(value, "a string")?;
            if column.values.iter().any(|allowed| allowed == text) {
                Ok(())
            } else {
                Err(format!(
                    "\"{text}\" is not one of {}",
                    column
                        .values
                        .iter()
                        .map(|allowed| format!("\"{allowed}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
        ColumnType::File => {
            let text = expect_string(value, "a file reference string")?;
            if text.is_empty() {
                Err("a file reference cannot be empty".into())
            } else {
                Ok(())
            }
        }
    }
}

/// The stored form of a value that passed [`check_value`]: timestamps in UTC as
/// `2026-11-22T10:00:00Z` (fractions kept), UUIDs lowercase and hyphenated, decimals as strings.
/// Both backends then return exactly what was stored.
pub fn normalize(column: &Column, value: Value) -> Value {
    match (column.kind, &value) {
        (ColumnType::Timestamp, Value::String(text)) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|time| Value::String(format_timestamp(time.with_timezone(&chrono::Utc))))
            .unwrap_or(value),
        (ColumnType::Uuid, Value::String(text)) => uuid::Uuid::try_parse(text)
            .map(|id| Value::String(id.hyphenated().to_string()))
            .unwrap_or(value),
        (ColumnType::Decimal, Value::Number(number)) => Value::String(number.to_string()),
        _ => value,
    }
}

/// Unix milliseconds as [`format_timestamp`] writes them.
pub fn format_millis(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(format_timestamp)
        .unwrap_or_default()
}

/// RFC 3339 in UTC with `Z`, with as many fraction digits as needed.
pub fn format_timestamp(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Both backends store years 1 to 9999 alike (PostgreSQL has no year 0, and SQLite's text sorts
/// only four-digit years in order).
fn check_year(year: i32) -> Result<(), String> {
    if (1..=9999).contains(&year) {
        Ok(())
    } else {
        Err(format!("the year {year} is outside 1 to 9999"))
    }
}

/// Whether a string anywhere in the value (JSON keys included) holds a NUL character, which
/// PostgreSQL cannot store in text or JSON.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, item)| key.contains('\0') || has_nul(item)),
        _ => false,
    }
}

/// The most characters of a client-chosen identifier (`device_id`, `op_id`).
pub const MAX_IDENTIFIER: usize = 200;

/// Why a client-chosen identifier (`device_id`, `op_id`) cannot be used, in words that follow its
/// name: not empty, at most 200 characters, no control characters.
pub fn check_identifier(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("must not be empty".into());
    }
    let length = text.chars().count();
    if length > MAX_IDENTIFIER {
        return Err(format!(
            "is {length} characters long; at most {MAX_IDENTIFIER} are allowed"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

fn expect_string<'v>(value: &'v Value, expected: &str) -> Result<&'v str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("expected {expected}, got {}", describe(value)))
}

fn check_length(column: &Column, text: &str) -> Result<(), String> {
    let length = text.chars().count();
    if let Some(max) = column.max_length
        && length > max as usize
    {
        return Err(format!(
            "{length} characters is longer than the maximum of {max}"
        ));
    }
    if let Some(min) = column.min_length
        && length < min as usize
    {
        return Err(format!(
            "{length} characters is shorter than the minimum of {min}"
        ));
    }
    Ok(())
}

fn check_bounds(column: &Column, number: f64, shown: &str) -> Result<(), String> {
    if let Some(min) = column.min
        && number < min
    {
        return Err(format!("{shown} is below the minimum of {min}"));
    }
    if let Some(max) = column.max
        && number > max
    {
        return Err(format!("{shown} is above the maximum of {max}"));
    }
    Ok(())
}

fn is_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn column(declared: &str) -> Column {
        #[derive(serde::Deserialize)]
        struct Holder {
            c: Column,
        }
        toml::from_str::<Holder>(&format!("c = {{ {declared} }}"))
            .unwrap()
            .c
    }

    #[test]
    fn checks_each_type() {
        let cases = [
            ("type = 'text', max_length = 3", json!("abc"), json!("abcd")),
            ("type = 'integer', min = 0", json!(0), json!(-1)),
            ("type = 'integer'", json!(7), json!(7.5)),
            ("type = 'real', max = 1.5", json!(1.5), json!(1.6)),
            ("type = 'decimal'", json!("19.99"), json!("19,99")),
            ("type = 'boolean'", json!(true), json!("true")),
            (
                "type = 'timestamp'",
                json!("2026-11-22T10:00:00Z"),
                json!("yesterday"),
            ),
            ("type = 'date'", json!("2026-11-22"), json!("22/11/2026")),
            (
                "type = 'uuid'",
                json!("5f0c8e4e-7d7a-4b43-9a57-1b1d2f7c9e10"),
                json!("42"),
            ),
            ("type = 'enum', values = ['a', 'b']", json!("a"), json!("c")),
            ("type = 'file'", json!("files/1.png"), json!("")),
            ("type = 'text'", json!("x"), json!(null)),
        ];
        for (declared, good, bad) in cases {
            let column = column(declared);
            assert_eq!(check_value(&column, &good), Ok(()), "{declared} {good}");
            assert!(check_value(&column, &bad).is_err(), "{declared} {bad}");
        }
        assert_eq!(
            check_value(&column("type = 'text', nullable = true"), &json!(null)),
            Ok(())
        );
    }
}
