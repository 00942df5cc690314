//! One client for a test gateway, whether it runs in this process ([`super::TestServer`]) or
//! as its own process ([`super::process::Gateway`]): both deref to [`Client`], so a test calls
//! the same methods on either.

use serde_json::{Value, json};

/// The prefix of the API routes (the default `server.api_prefix`).
pub const API: &str = "/api/v1";

/// HTTP to one gateway: its base URL and a client.
pub struct Client {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
    /// For requests the methods below do not build (headers, raw bodies, other methods).
    pub client: reqwest::Client,
}

impl Client {
    pub fn new(base_url: String) -> Self {
        Self {
            base_url,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// GET without a token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// GET with a bearer token; returns the status and the JSON body.
    pub async fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        answer(self.client.get(self.url(path)).bearer_auth(token)).await
    }

    /// POST a JSON body with a bearer token; returns the status and the JSON body.
    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        answer(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    /// PUT a JSON body with a bearer token; returns the status and the JSON body.
    pub async fn put_as(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        answer(
            self.client
                .put(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    /// DELETE with a bearer token; returns the status and the JSON body (null when empty).
    pub async fn delete_as(&self, token: &str, path: &str) -> (u16, Value) {
        answer(self.client.delete(self.url(path)).bearer_auth(token)).await
    }

    /// A push of `operations` by `device`, atomic unless `atomic` is false.
    pub async fn push(
        &self,
        token: &str,
        device: &str,
        atomic: bool,
        operations: Value,
    ) -> (u16, Value) {
        let body = json!({"device_id": device, "atomic": atomic, "operations": operations});
        self.post_as(token, &format!("{API}/sync/push"), &body)
            .await
    }
}

/// Sends `request`; the status and the JSON body (null when the body is not JSON).
async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
