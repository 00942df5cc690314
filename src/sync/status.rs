//! Device and overall sync status (seeds 001 and 003): how far behind each device is, in
//! changes and in time, and what a person should do about it.

use super::SyncError;
use super::access::readable;
use super::activity::Activity;
use super::conflicts::{ConflictView, list as list_conflicts};
use super::devices::list as list_devices;
use crate::auth::Caller;
use crate::config::DevicesConfig;
use crate::schema::Schema;
use crate::store::devices::StoredDevice;
use crate::store::rows::{self, Backlog};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Has acknowledged every change it may see.
    UpToDate,
    /// Has unacknowledged changes, for less than `devices.stale_after`.
    Pending,
    /// Has had unacknowledged changes for longer than `devices.stale_after`.
    Stale,
    /// Not seen for longer than `devices.offline_after` (or never).
    Offline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OverallState {
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
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    pub device_id: String,
    pub name: String,
    /// The platform given at registration (seed 003's `device_type`).
    pub device_type: String,
    /// The app version given at registration.
    pub version: String,
    /// Subject of the device's user.
    pub user: String,
    /// When the device last made a request (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    pub sync_status: DeviceState,
    /// Changes the device may see and has not acknowledged.
    pub pending: i64,
    /// The same as `pending`, named for its direction: server → device.
    pub pending_download: i64,
    /// Writes the device said (with its last ack) it holds and has not pushed yet: device →
    /// server. Absent until the device reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_upload: Option<i64>,
    /// When the device reported `pending_upload` (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_upload_at: Option<String>,
    /// On an edge: writes of this device not yet pushed to the hub.
    pub outbox_pending: i64,
    /// Seconds since the oldest unacknowledged change.
    pub lag_seconds: i64,
    /// The last acknowledged cursor.
    pub acked_cursor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ack: Option<String>,
    pub created_at: String,
    /// When the device's token stops working (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableSummary {
    /// Live rows in the caller's scope.
    pub rows: i64,
    /// When a row in scope last changed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_change: Option<String>,
    /// The table's `status_column`, when it declares one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_column: Option<String>,
    /// Live rows in scope per value of `status_column` (`null` for no value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_status: Option<BTreeMap<String, i64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DataSummary {
    pub tables: BTreeMap<String, TableSummary>,
    /// Changes not yet acknowledged, summed over the devices.
    pub unsynced_changes: i64,
    pub open_conflicts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_change: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub sub: String,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

/// The answer of `GET /sync/status` (seed 003's shape, with seed 001's per-user figures).
#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    pub sync_status: OverallState,
    /// The latest acknowledgement of any device (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<String>,
    /// The largest device lag, for people ("2 minutes").
    pub sync_lag: String,
    pub sync_lag_seconds: i64,
    pub total_devices: i64,
    /// Devices seen within `last_hours`.
    pub active_devices: i64,
    /// Unacknowledged changes, summed over the devices.
    pub pending_syncs: i64,
    /// The same, named for its direction: server → devices.
    pub pending_download: i64,
    /// Writes the devices hold and have not pushed yet, as they last reported: devices →
    /// server (seed 003's "pending").
    pub pending_upload: i64,
    /// Present when `include_devices` is true (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<DeviceView>>,
    /// Open conflicts; present when `check_conflicts` is true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<Vec<ConflictView>>,
    pub data_summary: DataSummary,
    /// Plain sentences a person can act on.
    pub recommendations: Vec<String>,
    pub user: UserView,
    pub server_time: String,
    pub last_hours: u32,
}

pub struct StatusQuery {
    pub include_devices: bool,
    pub check_conflicts: bool,
    pub last_hours: u32,
}

use crate::schema::values::format_millis as rfc3339;

/// "2 minutes", "3 hours", "just now".
pub fn human_duration(seconds: i64) -> String {
    let (amount, unit) = match seconds {
        s if s < 60 => {
            return if s <= 0 {
                "none".into()
            } else {
                "under a minute".into()
            };
        }
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    format!("{amount} {unit}{}", if amount == 1 { "" } else { "s" })
}

/// The backlog of a device: the changes its user may see after its acknowledged cursor.
async fn device_backlog(
    db: &DatabaseConnection,
    schema: &Schema,
    device: &StoredDevice,
) -> Result<Backlog, SyncError> {
    let caller = Caller::from_device(&device.id, &device.claims);
    // A device whose role left the schema sees nothing.
    let Ok(tables) = readable(schema, &caller, None) else {
        return Ok(Backlog::default());
    };
    let mut total = Backlog::default();
    for access in tables {
        let backlog = rows::backlog(db, access.table, &access.scope, device.acked_cursor).await?;
        total.changes += backlog.changes;
        total.oldest_change = min_some(total.oldest_change, backlog.oldest_change);
        total.newest_change = total.newest_change.max(backlog.newest_change);
    }
    Ok(total)
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The status of one device now.
pub async fn device_view(
    db: &DatabaseConnection,
    schema: &Schema,
    device: &StoredDevice,
    activity: &Activity,
    settings: &DevicesConfig,
) -> Result<DeviceView, SyncError> {
    let now = chrono::Utc::now().timestamp_millis();
    let last_seen = device
        .last_seen
        .max(activity.last_seen(&device.id, &device.subject));
    let backlog = device_backlog(db, schema, device).await?;
    let outbox_pending = crate::store::outbox::pending_for_device(db, &device.id).await?;
    let lag_seconds = backlog
        .oldest_change
        .map_or(0, |oldest| ((now - oldest) / 1000).max(0));
    let offline =
        last_seen.is_none_or(|seen| now - seen > settings.offline_after.as_millis() as i64);
    let upload = device.pending_upload.map_or(0, |(count, _)| count);
    // Writes the device has held since its report: behind in the other direction.
    let upload_lag_seconds = match device.pending_upload {
        Some((count, at)) if count > 0 => ((now - at) / 1000).max(0),
        _ => 0,
    };
    let sync_status = if offline {
        DeviceState::Offline
    } else if backlog.changes == 0 && outbox_pending == 0 && upload == 0 {
        DeviceState::UpToDate
    } else if lag_seconds.max(upload_lag_seconds) > settings.stale_after.as_secs() as i64 {
        DeviceState::Stale
    } else {
        DeviceState::Pending
    };
    Ok(DeviceView {
        device_id: device.id.clone(),
        name: device.name.clone(),
        device_type: device.platform.clone(),
        version: device.app_version.clone(),
        user: device.subject.clone(),
        last_seen: last_seen.map(rfc3339),
        sync_status,
        pending: backlog.changes,
        pending_download: backlog.changes,
        pending_upload: device.pending_upload.map(|(count, _)| count),
        pending_upload_at: device.pending_upload.map(|(_, at)| rfc3339(at)),
        outbox_pending,
        lag_seconds,
        acked_cursor: device
            .acked_cursor_text
            .clone()
            .unwrap_or_else(|| device.acked_cursor.to_string()),
        last_ack: device.acked_at.map(rfc3339),
        created_at: device.created_at.clone(),
        token_expires_at: device.token_expires_at.map(rfc3339),
    })
}

/// `GET /sync/status` for the caller.
pub async fn status(
    db: &DatabaseConnection,
    schema: &Schema,
    caller: &Caller,
    activity: &Activity,
    settings: &DevicesConfig,
    query: &StatusQuery,
) -> Result<SyncStatus, SyncError> {
    let now = chrono::Utc::now().timestamp_millis();
    let window = i64::from(query.last_hours) * 3_600_000;
    let mut views = Vec::new();
    for device in list_devices(db, schema, caller).await? {
        views.push(device_view(db, schema, &device, activity, settings).await?);
    }
    let active: Vec<&DeviceView> = views
        .iter()
        .filter(|v| {
            v.last_seen
                .as_deref()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .is_some_and(|seen| now - seen.timestamp_millis() <= window)
        })
        .collect();
    let pending_syncs: i64 = views.iter().map(|v| v.pending).sum();
    let pending_upload: i64 = views.iter().filter_map(|v| v.pending_upload).sum();
    let lag = views
        .iter()
        .filter(|v| v.sync_status != DeviceState::Offline)
        .map(|v| v.lag_seconds)
        .max()
        .unwrap_or(0);
    let conflicts = list_conflicts(db, schema, caller).await?;
    let sync_status = if !conflicts.is_empty() {
        OverallState::Conflicts
    } else if active.is_empty() {
        OverallState::Offline
    } else if active
        .iter()
        .any(|v| matches!(v.sync_status, DeviceState::Pending | DeviceState::Stale))
    {
        OverallState::Delayed
    } else {
        OverallState::Healthy
    };

    let mut tables = BTreeMap::new();
    let mut last_change = None;
    for access in readable(schema, caller, None)? {
        let rows = rows::count(db, access.table, &access.scope).await?;
        let backlog = rows::backlog(db, access.table, &access.scope, 0).await?;
        last_change = last_change.max(backlog.newest_change);
        let status_column = access.table.spec.status_column.clone();
        let by_status = match &status_column {
            Some(column) => Some(
                rows::count_by(db, access.table, &access.scope, column)
                    .await?
                    .into_iter()
                    .collect(),
            ),
            None => None,
        };
        tables.insert(
            access.table.name.clone(),
            TableSummary {
                rows,
                last_change: backlog.newest_change.map(rfc3339),
                status_column,
                by_status,
            },
        );
    }
    let last_sync = views.iter().filter_map(|v| v.last_ack.clone()).max();
    let recommendations = recommend(&views, conflicts.len(), settings);
    let open_conflicts = conflicts.len() as i64;
    Ok(SyncStatus {
        sync_status,
        last_sync,
        sync_lag: human_duration(lag),
        sync_lag_seconds: lag,
        total_devices: views.len() as i64,
        active_devices: active.len() as i64,
        pending_syncs,
        pending_download: pending_syncs,
        pending_upload,
        devices: query.include_devices.then(|| views.clone()),
        conflicts: query.check_conflicts.then_some(conflicts),
        data_summary: DataSummary {
            tables,
            unsynced_changes: pending_syncs,
            open_conflicts,
            last_change: last_change.map(rfc3339),
        },
        recommendations,
        user: UserView {
            sub: caller.subject.clone(),
            role: caller.role.clone(),
            branch: caller.branch_text(),
        },
        server_time: rfc3339(now),
        last_hours: query.last_hours,
    })
}

/// What a device is behind with, in both directions: "2 unacknowledged changes and 3 writes
/// not uploaded yet" (the changes alone when the device reported no writes).
fn behind(view: &DeviceView) -> String {
    let plural = |n: i64| if n == 1 { "" } else { "s" };
    let changes = format!(
        "{} unacknowledged change{}",
        view.pending,
        plural(view.pending)
    );
    match view.pending_upload {
        Some(writes) if writes > 0 => {
            let uploads = format!("{writes} write{} not uploaded yet", plural(writes));
            if view.pending == 0 {
                uploads
            } else {
                format!("{changes} and {uploads}")
            }
        }
        _ => changes,
    }
}

fn recommend(views: &[DeviceView], conflicts: usize, settings: &DevicesConfig) -> Vec<String> {
    let mut advice = Vec::new();
    if conflicts > 0 {
        advice.push(format!(
            "{conflicts} conflict{} wait{} for a decision — review {} with GET /sync/conflicts and resolve {}",
            if conflicts == 1 { "" } else { "s" },
            if conflicts == 1 { "s" } else { "" },
            if conflicts == 1 { "it" } else { "them" },
            if conflicts == 1 { "it" } else { "them" },
        ));
    }
    for view in views {
        match view.sync_status {
            DeviceState::Pending => advice.push(format!(
                "Device `{}` has {} — sync recommended",
                view.device_id,
                behind(view)
            )),
            DeviceState::Stale => advice.push(format!(
                "Device `{}` has been behind for {} ({}) — open the app and sync",
                view.device_id,
                human_duration(view.lag_seconds),
                behind(view)
            )),
            DeviceState::Offline => advice.push(match &view.last_seen {
                Some(seen) => format!(
                    "Device `{}` has not been seen since {seen} (over {}) — check that it is online, or delete it if it is retired",
                    view.device_id,
                    human_duration(settings.offline_after.as_secs() as i64)
                ),
                None => format!(
                    "Device `{}` has never synced — sign in on it, or delete it if it was registered by mistake",
                    view.device_id
                ),
            }),
            DeviceState::UpToDate => {}
        }
    }
    if advice.is_empty() {
        advice.push(if views.is_empty() {
            "No devices are registered — register one with POST /sync/devices".to_string()
        } else {
            "All devices are up to date".to_string()
        });
    }
    advice
}
