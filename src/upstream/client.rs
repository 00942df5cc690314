//! Requests to the hub: its own push, changes and health endpoints, with the edge's token.

use crate::config::{Secret, UpstreamConfig};
use serde_json::{Value, json};

pub struct HubClient {
    base: String,
    health: String,
    token: Secret,
    device_id: String,
    client: reqwest::Client,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum HubError {
    #[error("the hub cannot be reached: {0}")]
    Unreachable(String),
    #[error("the hub answered {status}: {message}")]
    Refused { status: u16, message: String },
}

impl HubError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, HubError::Unreachable(_))
            || matches!(self, HubError::Refused { status, .. } if *status >= 502)
    }
}

impl HubClient {
    pub fn new(config: &UpstreamConfig) -> Self {
        let base = config.url.as_str().trim_end_matches('/').to_string();
        let mut health = config.url.clone();
        health.set_path("/health");
        health.set_query(None);
        Self {
            base,
            health: health.to_string(),
            token: config.token.clone(),
            device_id: config.device_id.clone(),
            client: reqwest::Client::builder()
                .timeout(config.timeout)
                .build()
                .expect("an HTTP client with a timeout"),
        }
    }

    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// `GET /health` of the hub.
    pub async fn health(&self) -> Result<(), HubError> {
        let response = self
            .client
            .get(&self.health)
            .send()
            .await
            .map_err(unreachable)?;
        check(response).await.map(|_| ())
    }

    /// `POST /sync/push` with `atomic: false`: one result per operation.
    pub async fn push(&self, operations: Vec<Value>) -> Result<Value, HubError> {
        let body = json!({"device_id": self.device_id, "atomic": false, "operations": operations});
        let response = self
            .client
            .post(format!("{}/sync/push", self.base))
            .bearer_auth(self.token.expose())
            .json(&body)
            .send()
            .await
            .map_err(unreachable)?;
        check(response).await
    }

    /// `GET /sync/changes` after `cursor`.
    pub async fn changes(
        &self,
        cursor: &str,
        limit: u32,
        branch: Option<&str>,
    ) -> Result<Value, HubError> {
        let mut query = vec![("cursor", cursor.to_string()), ("limit", limit.to_string())];
        if let Some(branch) = branch {
            query.push(("branch", branch.to_string()));
        }
        let url = reqwest::Url::parse_with_params(&format!("{}/sync/changes", self.base), &query)
            .map_err(|error| HubError::Unreachable(format!("bad upstream.url: {error}")))?;
        let response = self
            .client
            .get(url)
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(unreachable)?;
        check(response).await
    }
}

fn unreachable(error: reqwest::Error) -> HubError {
    HubError::Unreachable(error.to_string())
}

async fn check(response: reqwest::Response) -> Result<Value, HubError> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let message = body["error"]["message"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| status.to_string());
    Err(HubError::Refused {
        status: status.as_u16(),
        message,
    })
}
