//! Hooks served by another program over HTTP. The gateway POSTs JSON signed with
//! HMAC-SHA256 (`X-Syncgate-Signature: sha256=<hex>`, key `plugins.webhook_secret`).
//!
//! Before a write (`"hook": "before_write"`) the call is synchronous, with a timeout: the answer
//! `{"reject": "message"}` refuses the operation, `{"row": {…}}` replaces the row to store, and
//! any other 2xx lets it through. After a commit (`"hook": "after_commit"`) the call is queued in
//! the database and delivered by a background task with retries, so a slow or dead receiver
//! never blocks or loses a push.

use super::error::HookError;
use super::{HookContext, HookOp};
use crate::config::Secret;
use crate::store::webhooks::{self, Delivery};
use hmac::{Hmac, Mac};
use sea_orm::DatabaseConnection;
use serde_json::{Map, Value, json};
use sha2::Sha256;
use std::time::Duration;
use tracing::Instrument;

/// Header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Syncgate-Signature";

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub secret: Option<Secret>,
    pub timeout: Duration,
    pub max_attempts: u32,
}

impl WebhookSettings {
    /// The webhook keys of `[plugins]`; at least one delivery attempt.
    pub fn from_config(config: &crate::config::PluginsConfig) -> Self {
        Self {
            secret: config.webhook_secret.clone(),
            timeout: config.webhook_timeout,
            max_attempts: config.webhook_max_attempts.max(1),
        }
    }
}

pub struct Webhook {
    pub url: String,
    client: reqwest::Client,
    secret: Option<Secret>,
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("an HTTP client with a timeout")
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: Option<&Secret>,
    body: &str,
) -> Result<reqwest::Response, String> {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(secret) = secret {
        request = request.header(
            SIGNATURE_HEADER,
            signature(secret.expose(), body.as_bytes()),
        );
    }
    let span = tracing::info_span!("webhook", url = %url, status = tracing::field::Empty);
    let response = request
        .send()
        .instrument(span.clone())
        .await
        .map_err(|error| {
            if error.is_timeout() {
                "no answer before `plugins.webhook_timeout`".to_string()
            } else {
                format!("cannot reach it: {error}")
            }
        })?;
    span.record("status", response.status().as_u16());
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(format!("it answered {}", response.status()))
    }
}

impl Webhook {
    pub fn new(url: &str, settings: &WebhookSettings) -> Self {
        Self {
            url: url.to_string(),
            client: client(settings.timeout),
            secret: settings.secret.clone(),
        }
    }

    /// The synchronous call before a write: `Some(row)` replaces the row to store.
    pub async fn before_write(
        &self,
        op: &HookOp,
        ctx: &HookContext,
    ) -> Result<Option<Map<String, Value>>, HookError> {
        let body =
            json!({"hook": "before_write", "op": op.to_json(), "ctx": ctx.to_json()}).to_string();
        let failed = |message: String| HookError::Failed {
            hook: self.url.clone(),
            function: "before_write".into(),
            message,
        };
        let response = post(&self.client, &self.url, self.secret.as_ref(), &body)
            .await
            .map_err(failed)?;
        let text = response.text().await.unwrap_or_default();
        if text.trim().is_empty() {
            return Ok(None);
        }
        let answer: Value =
            serde_json::from_str(&text).map_err(|_| failed("its answer is not JSON".into()))?;
        if let Some(reason) = answer.get("reject") {
            return Err(HookError::Rejected {
                hook: self.url.clone(),
                message: reason
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| reason.to_string()),
            });
        }
        match answer.get("row") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(row)) => Ok(Some(row.clone())),
            Some(_) => Err(failed("its `row` is not an object".into())),
        }
    }

    /// The body queued for delivery after a commit.
    pub fn after_commit_body(op: &HookOp, ctx: &HookContext) -> String {
        json!({"hook": "after_commit", "op": op.to_json(), "ctx": ctx.to_json()}).to_string()
    }
}

/// Delivers due `after_commit` calls every half second until the gateway stops.
pub fn spawn_delivery(
    db: DatabaseConnection,
    settings: WebhookSettings,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = client(settings.timeout);
        let mut ticker = tokio::time::interval(Duration::from_millis(500));
        loop {
            ticker.tick().await;
            if let Err(error) = deliver_due(&db, &client, &settings).await {
                tracing::warn!(%error, "webhook delivery: cannot read the queue");
            }
        }
    })
}

async fn deliver_due(
    db: &DatabaseConnection,
    client: &reqwest::Client,
    settings: &WebhookSettings,
) -> Result<(), sea_orm::DbErr> {
    let now = chrono::Utc::now().timestamp_millis();
    for Delivery {
        id,
        url,
        body,
        attempts,
    } in webhooks::due(db, now, 20).await?
    {
        // Another replica may have taken it between the read and now.
        if !webhooks::lease(db, id, now, now + 30_000).await? {
            continue;
        }
        match post(client, &url, settings.secret.as_ref(), &body).await {
            Ok(_) => webhooks::delivered(db, id).await?,
            Err(error) => {
                let attempts = attempts + 1;
                let give_up = attempts >= settings.max_attempts as i64;
                // 1 s, 2 s, 4 s … capped at a minute.
                let backoff = 1000_i64.saturating_mul(1 << attempts.min(6)).min(60_000);
                tracing::warn!(%url, attempts, %error, give_up, "webhook delivery failed");
                webhooks::failed_attempt(db, id, attempts, now + backoff, &error, give_up).await?;
            }
        }
    }
    Ok(())
}
