//! A gateway in this process, on a port-0 listener of 127.0.0.1.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use syncgate::config::Config;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A gateway running in this process on 127.0.0.1, stopped by [`TestServer::stop`].
pub struct TestServer {
    pub base_url: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), syncgate::server::StartError>>,
}

impl TestServer {
    /// Launches the gateway and waits until `/ready` answers 200.
    pub async fn start(config: Config) -> Self {
        Self::try_start(config).await.expect("the server starts")
    }

    /// Launches the gateway; returns the start-up error if it stops before it is ready.
    pub async fn try_start(config: Config) -> Result<Self, syncgate::server::StartError> {
        // Failing tests show the gateway's warnings and errors (nextest prints their output).
        syncgate::logging::init("syncgate=warn", syncgate::config::LogFormat::Text);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let mut task = tokio::spawn(syncgate::server::launch(config, listener, async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if task.is_finished() {
                return match (&mut task).await.expect("server task") {
                    Err(error) => Err(error),
                    Ok(()) => panic!("the server stopped before it was ready"),
                };
            }
            if let Ok(response) = client.get(format!("{base_url}/ready")).send().await
                && response.status() == 200
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server was not ready within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self {
            base_url,
            client,
            shutdown: Some(shutdown),
            task,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// GET with a bearer token; returns the status and the JSON body.
    pub async fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POST a JSON body with a bearer token; returns the status and the JSON body.
    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
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
        self.post_as(token, "/api/v1/sync/push", &body).await
    }

    /// Asks the server to stop and waits until it has.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        (&mut self.task)
            .await
            .expect("server task")
            .expect("the server stops cleanly");
    }
}
