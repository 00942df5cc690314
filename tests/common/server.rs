//! A gateway in this process, on a port-0 listener of 127.0.0.1.

use super::client::Client;
use std::ops::Deref;
use std::time::{Duration, Instant};
use syncgate::config::Config;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A gateway running in this process on 127.0.0.1, stopped by [`TestServer::stop`]. Its
/// requests are [`Client`]'s.
pub struct TestServer {
    api: Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), syncgate::server::StartError>>,
}

impl Deref for TestServer {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.api
    }
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
        let api = Client::new(format!("http://{}", listener.local_addr().unwrap()));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let mut task = tokio::spawn(syncgate::server::launch(config, listener, async move {
            let _ = stopped.await;
        }));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if task.is_finished() {
                return match (&mut task).await.expect("server task") {
                    Err(error) => Err(error),
                    Ok(()) => panic!("the server stopped before it was ready"),
                };
            }
            if let Ok(response) = api.client.get(api.url("/ready")).send().await
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
            api,
            shutdown: Some(shutdown),
            task,
        })
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
