//! When a row was last written, in the table's `updated_at_column` (a timestamp column): no
//! write moves it backwards, a delete records when it happened, and with `stamp_updated_at` the
//! server's clock is the only one stored.

use crate::schema::TableDef;
use crate::schema::model::ColumnType;
use crate::schema::values::format_timestamp;
use crate::store::rows::StoredRow;
use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use serde_json::{Map, Value};

/// The row to store with its `updated_at_column` settled:
/// - with `stamp_updated_at`, the server's time of the write;
/// - a delete takes the time the client sent with it, else the server's time;
/// - otherwise the value the write carries;
///
/// and never earlier than the stored row's, so a late or replayed write cannot make a row look
/// older than a change it followed (the delete's time is what `last_write_wins` compares a
/// later update with). A row replicated from the hub (`from_client` false) keeps the hub's time.
pub fn write_time(
    table: &TableDef,
    mut values: Map<String, Value>,
    stored: Option<&StoredRow>,
    sent: &Map<String, Value>,
    deleted: bool,
    from_client: bool,
) -> Map<String, Value> {
    let name = &table.spec.updated_at_column;
    if !from_client
        || table
            .spec
            .columns
            .get(name)
            .is_none_or(|column| column.kind != ColumnType::Timestamp)
    {
        return values;
    }
    // Microseconds: what PostgreSQL's timestamptz keeps, so the answer shows the stored value.
    let now = || Utc::now().fixed_offset().trunc_subsecs(6);
    let candidate = if table.spec.stamp_updated_at {
        Some(now())
    } else if deleted {
        Some(timestamp(sent.get(name)).unwrap_or_else(now))
    } else {
        timestamp(values.get(name))
    };
    let floor = stored.and_then(|row| timestamp(row.values.get(name)));
    let settled = match (candidate, floor) {
        (Some(candidate), Some(floor)) => Some(candidate.max(floor)),
        (candidate, floor) => candidate.or(floor),
    };
    if let Some(settled) = settled
        && timestamp(values.get(name)) != Some(settled)
    {
        values.insert(
            name.clone(),
            Value::String(format_timestamp(settled.with_timezone(&Utc))),
        );
    }
    values
}

pub fn timestamp(value: Option<&Value>) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(value?.as_str()?).ok()
}
