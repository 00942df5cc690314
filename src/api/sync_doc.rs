//! How the sync core's answers look in the OpenAPI document. The core's types are plain serde
//! data (`sync::types`, `sync::status`, `sync::conflicts`); the API answers them with serde
//! ([`super::serde_payload`]) and describes each with a type of the same shape here, from which
//! poem-openapi derives the schema. These types are never built: they only describe. The test
//! `documented_shapes_match_answers` checks that answers carry exactly the documented fields.
#![allow(dead_code)]

use super::row_doc::RowObject;
use poem_openapi::{Enum, Object};
use serde_json::Value;

#[derive(Enum)]
#[oai(rename_all = "snake_case")]
#[oai(rename = "Action")]
pub enum ActionDoc {
    /// Create a row; a live row with the same key is a conflict.
    Insert,
    /// Change the sent columns of an existing row.
    Update,
    /// Create the row, or change it when it exists.
    Upsert,
    /// Delete the row (it stays as a versioned tombstone in the feed).
    Delete,
}

#[derive(Enum)]
#[oai(rename_all = "snake_case")]
#[oai(rename = "Resolve")]
pub enum ResolveDoc {
    /// Apply the client's row even if it conflicts (the caller needs update permission).
    UseLocal,
}

#[derive(Enum)]
#[oai(rename_all = "snake_case")]
#[oai(rename = "OpStatus")]
pub enum OpStatusDoc {
    Applied,
    Conflict,
    Error,
}

/// How a conflict ended. Every write that conflicted carries it, applied or not.
#[derive(Object)]
#[oai(rename = "ConflictInfo")]
pub struct ConflictInfoDoc {
    /// The table's strategy.
    strategy: String,
    /// `server_kept` (nothing applied), `queued` (kept for manual resolution),
    /// `client_applied` (the client's row was stored: `client_wins`, a newer write under
    /// `last_write_wins`, or `resolve: use_local`), `merged` (the client's fields over the
    /// server's row, under `merge`) or `hook_applied` (the row a hook's `on_conflict` returned).
    resolution: String,
    /// Why it was a conflict.
    reason: String,
    /// Id in `GET /sync/conflicts` when queued.
    #[oai(skip_serializing_if_is_none)]
    conflict_id: Option<i64>,
    server_row: RowObject,
    /// The row the client's write would have stored: its columns, without `_version`.
    client_row: std::collections::HashMap<String, Value>,
}

/// Why an operation failed.
#[derive(Object)]
#[oai(rename = "OpError")]
pub struct OpErrorDoc {
    code: String,
    message: String,
    /// The column at fault, when there is one.
    #[oai(skip_serializing_if_is_none)]
    field: Option<String>,
}

/// The result of one operation. `row`: applied, the stored row; conflict, the server's row.
#[derive(Object)]
#[oai(rename = "OpResult")]
pub struct OpResultDoc {
    /// Position of the operation in the request.
    index: u32,
    #[oai(skip_serializing_if_is_none)]
    op_id: Option<String>,
    table: String,
    /// The row's primary key value.
    #[oai(skip_serializing_if_is_none)]
    key: Option<Value>,
    status: OpStatusDoc,
    /// Applied: the row's new version; 0 when nothing was written (an update or delete that
    /// matched no row, in a table with `missing_row = "ignore"`; `row` is then absent).
    /// Conflict: the server's version.
    #[oai(skip_serializing_if_is_none)]
    version: Option<i64>,
    /// Whether the row (applied or the server's) is a deletion tombstone.
    deleted: bool,
    #[oai(skip_serializing_if_is_none)]
    row: Option<RowObject>,
    #[oai(skip_serializing_if_is_none)]
    conflict: Option<ConflictInfoDoc>,
    #[oai(skip_serializing_if_is_none)]
    error: Option<OpErrorDoc>,
    /// True when this is the stored result of an earlier request with the same `op_id`.
    replayed: bool,
}

/// The answer to a push: every operation's result, split by outcome.
#[derive(Object)]
#[oai(rename = "PushOutcome")]
pub struct PushOutcomeDoc {
    /// True when no operation failed (conflicts are not failures).
    success: bool,
    applied: Vec<OpResultDoc>,
    conflicts: Vec<OpResultDoc>,
    errors: Vec<OpResultDoc>,
    /// The changes feed position after this push.
    cursor: String,
}

/// One entry of the changes feed: the current state of a row (or its tombstone), or its
/// removal from your view. `row`: the row; for a tombstone, the row as it was when deleted; a
/// removal has none.
#[derive(Object)]
#[oai(rename = "Change")]
pub struct ChangeDoc {
    /// Feed position of the row's latest change (for a removal, of the write that moved it).
    seq: i64,
    table: String,
    key: Value,
    version: i64,
    /// True for a tombstone and for a removal: drop the row.
    deleted: bool,
    /// Present and true when the row left your view: a write moved it to another branch,
    /// owner, assignee set or claim value you cannot read. It carries none of the row's new
    /// values. Sent once per move to each reader who could read the row before it.
    removed: Option<bool>,
    row: Option<RowObject>,
}

#[derive(Object)]
#[oai(rename = "ChangesPage")]
pub struct ChangesPageDoc {
    changes: Vec<ChangeDoc>,
    /// Pass it as `cursor` to continue after these changes.
    cursor: String,
    /// More changes are waiting: ask again at once.
    has_more: bool,
}

/// An open conflict: both rows, both versions, and who wrote the client's. `server_row`: the
/// server's row when the conflict happened; `client_row`: the row the client wanted
/// (`_deleted: true` for a deletion).
#[derive(Object)]
#[oai(rename = "ConflictView")]
pub struct ConflictViewDoc {
    id: i64,
    table: String,
    key: Value,
    server_row: RowObject,
    /// The row the client wanted: its columns, without `_version` (`_deleted: true` for a
    /// deletion).
    client_row: std::collections::HashMap<String, Value>,
    server_version: i64,
    /// The version the client based its change on, when it sent one.
    #[oai(skip_serializing_if_is_none)]
    base_version: Option<i64>,
    device_id: String,
    /// Subject of the user whose push conflicted.
    user: String,
    created_at: String,
}

#[derive(Object)]
#[oai(rename = "ResolvedConflict")]
pub struct ResolvedConflictDoc {
    id: i64,
    resolution: String,
    table: String,
    key: Value,
    /// The row's version after the resolution.
    version: i64,
    deleted: bool,
    row: RowObject,
}

use std::collections::BTreeMap;

#[derive(Enum)]
#[oai(rename_all = "snake_case")]
#[oai(rename = "DeviceState")]
pub enum DeviceStateDoc {
    /// Has acknowledged every change it may see.
    UpToDate,
    /// Has unacknowledged changes, for less than `devices.stale_after`.
    Pending,
    /// Has had unacknowledged changes for longer than `devices.stale_after`.
    Stale,
    /// Not seen for longer than `devices.offline_after` (or never).
    Offline,
}

#[derive(Enum)]
#[oai(rename_all = "snake_case")]
#[oai(rename = "OverallState")]
pub enum OverallStateDoc {
    /// Every active device is up to date and no conflict waits.
    Healthy,
    /// Some device is behind.
    Delayed,
    /// Conflicts wait for a decision.
    Conflicts,
    /// No device was active in the window.
    Offline,
}

/// A device with its status.
#[derive(Object)]
#[oai(rename = "DeviceView")]
pub struct DeviceViewDoc {
    device_id: String,
    name: String,
    /// The platform given at registration (seed 003's `device_type`).
    device_type: String,
    /// The app version given at registration.
    version: String,
    /// Subject of the device's user.
    user: String,
    /// When the device last made a request (RFC 3339).
    #[oai(skip_serializing_if_is_none)]
    last_seen: Option<String>,
    sync_status: DeviceStateDoc,
    /// Changes the device may see and has not acknowledged.
    pending: i64,
    /// The same as `pending`, named for its direction: server → device.
    pending_download: i64,
    /// Writes the device said (`pending_upload` of its last `POST /sync/ack`) it holds and
    /// has not pushed yet: device → server. Absent until the device reports.
    #[oai(skip_serializing_if_is_none)]
    pending_upload: Option<i64>,
    /// When the device reported `pending_upload` (RFC 3339).
    #[oai(skip_serializing_if_is_none)]
    pending_upload_at: Option<String>,
    /// On an edge: writes of this device not yet pushed to the hub.
    outbox_pending: i64,
    /// Seconds since the oldest unacknowledged change.
    lag_seconds: i64,
    /// The last acknowledged cursor.
    acked_cursor: String,
    #[oai(skip_serializing_if_is_none)]
    last_ack: Option<String>,
    created_at: String,
    /// When the device's token stops working (RFC 3339); refresh it before then with
    /// `POST /sync/devices/{id}/token`.
    #[oai(skip_serializing_if_is_none)]
    token_expires_at: Option<String>,
}

#[derive(Object)]
#[oai(rename = "TableSummary")]
pub struct TableSummaryDoc {
    /// Live rows in the caller's scope.
    rows: i64,
    /// When a row in scope last changed (RFC 3339).
    #[oai(skip_serializing_if_is_none)]
    last_change: Option<String>,
    /// The table's `status_column`, when it declares one.
    #[oai(skip_serializing_if_is_none)]
    status_column: Option<String>,
    /// Live rows in the caller's scope per value of `status_column` (`null` for no value).
    #[oai(skip_serializing_if_is_none)]
    by_status: Option<BTreeMap<String, i64>>,
}

#[derive(Object)]
#[oai(rename = "DataSummary")]
pub struct DataSummaryDoc {
    tables: BTreeMap<String, TableSummaryDoc>,
    /// Changes not yet acknowledged, summed over the devices.
    unsynced_changes: i64,
    open_conflicts: i64,
    #[oai(skip_serializing_if_is_none)]
    last_change: Option<String>,
}

#[derive(Object)]
#[oai(rename = "UserView")]
pub struct UserViewDoc {
    sub: String,
    role: String,
    #[oai(skip_serializing_if_is_none)]
    branch: Option<String>,
}

/// The answer of `GET /sync/status` (seed 003's shape, with seed 001's per-user figures).
#[derive(Object)]
#[oai(rename = "SyncStatus")]
pub struct SyncStatusDoc {
    sync_status: OverallStateDoc,
    /// The latest acknowledgement of any device (RFC 3339).
    #[oai(skip_serializing_if_is_none)]
    last_sync: Option<String>,
    /// The largest device lag, for people ("2 minutes").
    sync_lag: String,
    sync_lag_seconds: i64,
    total_devices: i64,
    /// Devices seen within `last_hours`.
    active_devices: i64,
    /// Unacknowledged changes, summed over the devices.
    pending_syncs: i64,
    /// The same, named for its direction: server → devices.
    pending_download: i64,
    /// Writes the devices hold and have not pushed yet, as they last reported with
    /// `POST /sync/ack` (`pending_upload`): devices → server (seed 003's "pending").
    pending_upload: i64,
    /// Present when `include_devices` is true (the default).
    #[oai(skip_serializing_if_is_none)]
    devices: Option<Vec<DeviceViewDoc>>,
    /// Open conflicts; present when `check_conflicts` is true.
    #[oai(skip_serializing_if_is_none)]
    conflicts: Option<Vec<ConflictViewDoc>>,
    data_summary: DataSummaryDoc,
    /// Plain sentences a person can act on.
    recommendations: Vec<String>,
    user: UserViewDoc,
    server_time: String,
    last_hours: u32,
}

/// A batch of changes from one device.
#[derive(Object)]
#[oai(rename = "PushRequest")]
pub struct PushRequestDoc {
    /// The device sending the batch; replayed `op_id`s are recognised per device.
    device_id: String,
    /// `true` (when absent): the whole batch commits in one transaction or not at all, and the
    /// first failing operation is answered with an error naming it. `false`: each operation
    /// stands alone and failures are listed in `errors`. (No schema `default`: generators would
    /// make the field required in requests.)
    atomic: Option<bool>,
    /// At most `sync.max_batch` operations (5000 unless configured); more: 400.
    operations: Vec<PushOperationDoc>,
}

/// One change to one row. `resolve`: `use_local` applies the client's row even if it conflicts.
#[derive(Object)]
#[oai(rename = "PushOperation")]
pub struct PushOperationDoc {
    /// Client-chosen id; a replay with the same id returns the first result and writes nothing.
    op_id: Option<String>,
    table: String,
    action: ActionDoc,
    /// The row's columns (its primary key always, but in an `insert` or `upsert` into a table
    /// with `key_assigned_by = "server"`, where the gateway assigns it when left out and answers
    /// it as `key`; for `update`, the columns that change). A `_version` here is taken as
    /// `base_version`. A column's value `{"key_of": "OP_ID"}` (not in `json` columns) is the key
    /// of the earlier operation of this batch with that `op_id` (e.g. a new parent's assigned
    /// key); naming no earlier operation, or one that wrote no row: 422 naming the column.
    #[oai(default)]
    data: BTreeMap<String, Value>,
    /// The row version the change is based on; older than the server's is a conflict.
    base_version: Option<i64>,
    resolve: Option<ResolveDoc>,
}

#[derive(Object)]
#[oai(rename = "PullResponse")]
pub struct PullResponseDoc {
    success: bool,
    /// Rows by table.
    data: BTreeMap<String, Vec<RowObject>>,
    /// Keys of rows that left your view after `cursor` (an update moved them to another
    /// branch, owner, assignee set or claim value), by table; only tables with some appear.
    /// Drop these rows. Empty when pulling from the start.
    removed: BTreeMap<String, Vec<Value>>,
    limit: u64,
    /// Pass it as `cursor` for the next page.
    cursor: String,
    has_more: bool,
}

#[derive(Object)]
#[oai(rename = "ConflictList")]
pub struct ConflictListDoc {
    conflicts: Vec<ConflictViewDoc>,
}

#[derive(Object)]
#[oai(rename = "RegisteredDevice")]
pub struct RegisteredDeviceDoc {
    device: DeviceViewDoc,
    /// The device token: send it as `Authorization: Bearer <token>`. Shown only now.
    token: String,
}

#[derive(Object)]
#[oai(rename = "DeviceList")]
pub struct DeviceListDoc {
    devices: Vec<DeviceViewDoc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::conflicts::{ConflictView, ResolvedConflict};
    use crate::sync::status::{DataSummary, DeviceState, DeviceView, TableSummary};
    use crate::sync::types::{ChangesPage, ConflictInfo, OpError, OpResult, OpStatus, PushOutcome};
    use poem_openapi::registry::Registry;
    use poem_openapi::types::Type;
    use serde_json::{Map, json};

    /// Every field an answer carries is a documented property, and every required property is
    /// carried.
    fn assert_documented<D: Type>(answer: &impl serde::Serialize) {
        let mut registry = Registry::new();
        D::register(&mut registry);
        let name = D::name();
        let schema = &registry.schemas[name.as_ref()];
        let Value::Object(fields) = serde_json::to_value(answer).unwrap() else {
            panic!("{name} is not answered as an object");
        };
        let documented: Vec<&str> = schema.properties.iter().map(|(p, _)| *p).collect();
        for field in fields.keys() {
            assert!(
                documented.contains(&field.as_str()),
                "{name}.{field} is not documented"
            );
        }
        for required in &schema.required {
            assert!(
                fields.contains_key(*required),
                "{name}.{required} is missing"
            );
        }
    }

    fn row() -> Map<String, Value> {
        json!({"id": "a", "_version": 1})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn documented_shapes_match_answers() {
        let result = OpResult {
            index: 0,
            op_id: Some("op".into()),
            table: "t".into(),
            key: Some(json!("a")),
            status: OpStatus::Conflict,
            version: Some(2),
            deleted: false,
            row: Some(row()),
            conflict: Some(ConflictInfo {
                strategy: "manual".into(),
                resolution: crate::sync::types::ConflictResolution::Queued,
                reason: "why".into(),
                conflict_id: Some(1),
                server_row: row(),
                client_row: row(),
            }),
            error: Some(OpError {
                code: "c".into(),
                message: "m".into(),
                field: Some("f".into()),
            }),
            replayed: true,
        };
        assert_documented::<OpResultDoc>(&result);
        assert_documented::<ConflictInfoDoc>(result.conflict.as_ref().unwrap());
        assert_documented::<OpErrorDoc>(result.error.as_ref().unwrap());
        assert_documented::<PushOutcomeDoc>(&PushOutcome {
            success: true,
            applied: vec![result.clone()],
            conflicts: vec![],
            errors: vec![],
            cursor: "1".into(),
        });
        // As `store::row_json` writes a change.
        let change = json!({"seq": 1, "table": "t", "key": "a", "version": 1, "deleted": false,
                            "row": row()});
        assert_documented::<ChangeDoc>(&change);
        // As `store::row_json::removal` writes a removal.
        let removal = json!({"seq": 2, "table": "t", "key": "a", "version": 2, "deleted": true,
                             "removed": true});
        assert_documented::<ChangeDoc>(&removal);
        let raw_change = serde_json::value::to_raw_value(&change).unwrap();
        assert_documented::<ChangesPageDoc>(&ChangesPage {
            changes: vec![&*raw_change],
            cursor: "1".into(),
            has_more: false,
        });
        assert_documented::<ConflictViewDoc>(&ConflictView {
            id: 1,
            table: "t".into(),
            key: json!("a"),
            server_row: row(),
            client_row: row(),
            server_version: 1,
            base_version: Some(1),
            device_id: "d".into(),
            user: "u".into(),
            created_at: "now".into(),
        });
        assert_documented::<ResolvedConflictDoc>(&ResolvedConflict {
            id: 1,
            resolution: "use_local".into(),
            table: "t".into(),
            key: json!("a"),
            version: 2,
            deleted: false,
            row: row(),
        });
        assert_documented::<DeviceViewDoc>(&DeviceView {
            device_id: "d".into(),
            name: "n".into(),
            device_type: "web".into(),
            version: "1".into(),
            user: "u".into(),
            last_seen: Some("now".into()),
            sync_status: DeviceState::Pending,
            pending: 1,
            pending_download: 1,
            pending_upload: Some(2),
            pending_upload_at: Some("now".into()),
            outbox_pending: 0,
            lag_seconds: 3,
            acked_cursor: "0".into(),
            last_ack: Some("now".into()),
            created_at: "now".into(),
            token_expires_at: Some("later".into()),
        });
        assert_documented::<TableSummaryDoc>(&TableSummary {
            rows: 1,
            last_change: Some("now".into()),
            status_column: Some("status".into()),
            by_status: Some([("open".to_string(), 1)].into()),
        });
        assert_documented::<DataSummaryDoc>(&DataSummary {
            tables: Default::default(),
            unsynced_changes: 0,
            open_conflicts: 0,
            last_change: Some("now".into()),
        });
    }
}
