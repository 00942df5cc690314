//! Keys the gateway gives new rows of tables with `key_assigned_by = "server"`: the next
//! integer of this gateway's range, or a random UUID.
//!
//! Integer ranges keep keys apart without coordination: gateway node N (`sync.key_node`; the hub
//! is 0, each edge its own 1 to 8191) assigns from N × 2^40 (node 0 from 1) up to the next
//! node's start, so an edge's keys, assigned offline and drained later, never meet the hub's or
//! another edge's. The next key is one above the highest key already in the range (tombstones
//! count, so a deleted key is not given again), read once per write transaction; a key a
//! concurrent writer took makes the commit fail as contended and the push runs again.

use crate::schema::TableDef;
use crate::schema::model::ColumnType;

const NODE_SPAN: i64 = 1 << 40;

/// Whether the table's new rows get integer keys from the gateway.
pub fn assigns_integers(table: &TableDef) -> bool {
    table.key_assigned_by_server() && table.key_kind() == Some(ColumnType::Integer)
}

/// The integer keys node `node` assigns: `[low, high)`.
pub fn range(node: u16) -> (i64, i64) {
    let start = i64::from(node) * NODE_SPAN;
    (start.max(1), start + NODE_SPAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_apart_and_below_two_to_the_53() {
        assert_eq!(range(0), (1, 1 << 40));
        assert_eq!(range(1), (1 << 40, 2 << 40));
        assert_eq!(range(crate::config::MAX_KEY_NODE).1, 1 << 53);
    }
}
