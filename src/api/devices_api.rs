//! Devices, acknowledgements and sync status (seeds 001, 003, 004).

use super::bearer::BearerAuth;
use super::error::ApiError;
use super::serde_payload::JsonAnswer;
use super::strict_json::StrictJson;
use super::sync_doc::{DeviceListDoc, DeviceViewDoc, RegisteredDeviceDoc, SyncStatusDoc};
use crate::api::AppState;
use crate::sync::devices::{self, DeviceChanges, Registration};
use crate::sync::status::{self, DeviceView, StatusQuery, SyncStatus};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use serde::Serialize;
use std::sync::Arc;

#[derive(Tags)]
enum DevicesTag {
    /// Register devices, acknowledge the feed, and see how far each device is behind.
    Devices,
}

pub struct DevicesApi;

/// Names, platforms and versions: printable text with at least one visible character.
#[derive(Object)]
struct DeviceRegistration {
    /// The id the device already uses as `device_id` in pushes; generated when absent.
    #[oai(validator(pattern = r"^[A-Za-z0-9._:-]{1,200}$"))]
    id: Option<String>,
    #[oai(validator(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f\s][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    name: String,
    /// e.g. `android`, `windows_app`, `web`.
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f\s][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    platform: String,
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f\s][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    app_version: String,
}

/// A registered device and its token; the document calls it `RegisteredDevice`.
#[derive(Serialize)]
struct RegisteredDeviceAnswer {
    device: DeviceView,
    token: String,
}

/// The document calls it `DeviceList`.
#[derive(Serialize)]
struct DeviceListAnswer {
    devices: Vec<DeviceView>,
}

#[derive(Object)]
struct DeviceUpdate {
    #[oai(validator(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f\s][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    name: Option<String>,
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f\s][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    platform: Option<String>,
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f\s][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    app_version: Option<String>,
}

#[derive(ApiResponse)]
enum DeleteResponse {
    /// The device is gone; its token no longer works.
    #[oai(status = 204)]
    Deleted,
}

#[derive(Object)]
struct NewToken {
    device_id: String,
    /// The new device token; the old one stopped working.
    token: String,
    /// When the new token stops working (RFC 3339): `devices.token_ttl` from now.
    token_expires_at: String,
}

#[derive(Object)]
struct RevokedTokens {
    user: String,
    /// The user's devices whose tokens no longer work (they stay registered).
    devices: Vec<String>,
}

#[derive(Object)]
struct AckRequest {
    device_id: String,
    /// A cursor from the changes feed that the device has applied.
    cursor: String,
    /// The writes the device holds and has not pushed yet (its upload queue), as it counts
    /// them now; `GET /sync/status` shows it as the device's `pending_upload`. Leave it out to
    /// keep the last count.
    #[oai(validator(minimum(value = "0")))]
    pending_upload: Option<i64>,
}

async fn view(
    state: &AppState,
    device: &crate::store::devices::StoredDevice,
) -> Result<DeviceView, ApiError> {
    let schema = state.schema();
    Ok(status::device_view(
        &state.db,
        &schema,
        device,
        &state.activity,
        &state.config.devices,
    )
    .await?)
}

#[OpenApi(tag = "DevicesTag::Devices")]
impl DevicesApi {
    /// Register a device.
    ///
    /// The device belongs to the caller and acts with the caller's claims when it authenticates
    /// with its device token.
    #[oai(
        path = "/sync/devices",
        method = "post",
        operation_id = "registerDevice"
    )]
    async fn register(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: StrictJson<DeviceRegistration>,
    ) -> Result<JsonAnswer<RegisteredDeviceAnswer, RegisteredDeviceDoc, 201>, ApiError> {
        let body = body.0;
        let registration = Registration {
            id: body.id,
            name: body.name,
            platform: body.platform,
            app_version: body.app_version,
        };
        let (device, token) = devices::register(
            &state.db,
            &auth.0,
            registration,
            state.config.devices.token_ttl,
        )
        .await?;
        let device = view(&state, &device).await?;
        Ok(JsonAnswer::new(RegisteredDeviceAnswer { device, token }))
    }

    /// List devices.
    ///
    /// The caller's devices; every device for a role scoped to `all`.
    #[oai(path = "/sync/devices", method = "get", operation_id = "listDevices")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
    ) -> Result<JsonAnswer<DeviceListAnswer, DeviceListDoc>, ApiError> {
        let schema = state.schema();
        let mut views = Vec::new();
        for device in devices::list(&state.db, &schema, &auth.0).await? {
            views.push(view(&state, &device).await?);
        }
        Ok(JsonAnswer::new(DeviceListAnswer { devices: views }))
    }

    /// One device with its status.
    #[oai(path = "/sync/devices/:id", method = "get", operation_id = "getDevice")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// The device id.
        id: Path<String>,
    ) -> Result<JsonAnswer<DeviceView, DeviceViewDoc>, ApiError> {
        let schema = state.schema();
        let device = devices::reachable(&state.db, &schema, &auth.0, &id.0).await?;
        Ok(JsonAnswer::new(view(&state, &device).await?))
    }

    /// Update a device's name, platform or app version.
    #[oai(
        path = "/sync/devices/:id",
        method = "put",
        operation_id = "updateDevice"
    )]
    async fn update(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// The device id.
        id: Path<String>,
        body: StrictJson<DeviceUpdate>,
    ) -> Result<JsonAnswer<DeviceView, DeviceViewDoc>, ApiError> {
        let schema = state.schema();
        let changes = DeviceChanges {
            name: body.0.name,
            platform: body.0.platform,
            app_version: body.0.app_version,
        };
        let device = devices::update(&state.db, &schema, &auth.0, &id.0, changes).await?;
        Ok(JsonAnswer::new(view(&state, &device).await?))
    }

    /// Delete a device; its token stops working.
    #[oai(
        path = "/sync/devices/:id",
        method = "delete",
        operation_id = "deleteDevice"
    )]
    async fn delete(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// The device id.
        id: Path<String>,
    ) -> Result<DeleteResponse, ApiError> {
        let schema = state.schema();
        devices::delete(&state.db, state.feed.revocations(), &schema, &auth.0, &id.0).await?;
        state.activity.forget(&id.0);
        Ok(DeleteResponse::Deleted)
    }

    /// Issue a new device token; the old one stops working at once.
    ///
    /// The new token works for `devices.token_ttl` (default 30 days). A device refreshes its
    /// token by calling this with the token itself before it expires; live streams and
    /// long-polls using the old token end within a second (reconnect with the new one).
    #[oai(
        path = "/sync/devices/:id/token",
        method = "post",
        operation_id = "regenerateDeviceToken"
    )]
    async fn regenerate(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// The device id.
        id: Path<String>,
    ) -> Result<Json<NewToken>, ApiError> {
        let schema = state.schema();
        let (token, expires_at) = devices::regenerate_token(
            &state.db,
            state.feed.revocations(),
            &schema,
            &auth.0,
            &id.0,
            state.config.devices.token_ttl,
        )
        .await?;
        Ok(Json(NewToken {
            device_id: id.0,
            token,
            token_expires_at: crate::schema::values::format_millis(expires_at),
        }))
    }

    /// Revoke every device token of a user.
    ///
    /// For the user itself, or a role scoped to `all` (another caller: 403). Each of the user's
    /// devices stays registered, and its token stops working at once: requests answer 401, and
    /// live streams and long-polls using it end within a second on every replica. A device gets
    /// a new token with its user's JWT (`POST /sync/devices/{id}/token`).
    #[oai(
        path = "/sync/users/:user/revoke_tokens",
        method = "post",
        operation_id = "revokeUserTokens"
    )]
    async fn revoke_user_tokens(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// The user's subject (`sub`).
        user: Path<String>,
    ) -> Result<Json<RevokedTokens>, ApiError> {
        let schema = state.schema();
        let devices = devices::revoke_user_tokens(
            &state.db,
            state.feed.revocations(),
            &schema,
            &auth.0,
            &user.0,
        )
        .await?;
        for device in &devices {
            state.activity.forget(device);
        }
        Ok(Json(RevokedTokens {
            user: user.0,
            devices,
        }))
    }

    /// Acknowledge the changes feed up to a cursor.
    ///
    /// Records how far the device has applied the feed; its status is measured from here. A
    /// cursor beyond the head of the feed is refused. With `pending_upload`, the device also
    /// says how many of its own writes it has not pushed yet (the other direction).
    #[oai(path = "/sync/ack", method = "post", operation_id = "ack")]
    async fn ack(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: StrictJson<AckRequest>,
    ) -> Result<JsonAnswer<DeviceView, DeviceViewDoc>, ApiError> {
        let schema = state.schema();
        let device = devices::ack(
            &state.db,
            &schema,
            &auth.0,
            &body.device_id,
            (&body.cursor, body.pending_upload),
        )
        .await?;
        // Only an acknowledgement that went through marks the device: another user's attempt
        // with this device id must not touch it.
        state.activity.device_seen(&auth.0, &body.device_id);
        Ok(JsonAnswer::new(view(&state, &device).await?))
    }

    /// Sync status across the caller's devices.
    ///
    /// Overall `healthy`, `delayed`, `conflicts` or `offline`; each device `up_to_date`,
    /// `pending`, `stale` or `offline` with its lag; per-table figures in the caller's scope;
    /// and recommendations.
    #[oai(path = "/sync/status", method = "get", operation_id = "syncStatus")]
    async fn status(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// Include the devices (default true).
        include_devices: Query<Option<bool>>,
        /// Include the open conflicts (default false).
        check_conflicts: Query<Option<bool>>,
        /// Window, in hours, in which a device counts as active (default 24).
        #[oai(validator(minimum(value = "1")))]
        last_hours: Query<Option<u32>>,
    ) -> Result<JsonAnswer<SyncStatus, SyncStatusDoc>, ApiError> {
        let schema = state.schema();
        let query = StatusQuery {
            include_devices: include_devices.0.unwrap_or(true),
            check_conflicts: check_conflicts.0.unwrap_or(false),
            last_hours: last_hours.0.unwrap_or(24).max(1),
        };
        let answer = status::status(
            &state.db,
            &schema,
            &auth.0,
            &state.activity,
            &state.config.devices,
            &query,
        )
        .await?;
        Ok(JsonAnswer::new(answer))
    }
}
