//! Scheduled jobs run on their cron schedule and report their last run in `/health`.

mod common;

use common::{Sandbox, TestServer, backends};
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn the_maintenance_job_runs_on_its_schedule() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_shop();
        let mut config = sandbox.config();
        config.jobs.maintenance.schedule = "* * * * * *".into();
        let server = TestServer::start(config).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let job = loop {
            let health: Value = server.get("/health").await.json().await.unwrap();
            if let Some(job) = health["jobs"].get("maintenance") {
                break job.clone();
            }
            assert!(Instant::now() < deadline, "the job did not run within 10 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(job["ok"], true, "{backend:?}: {job}");
        assert!(job["runs"].as_u64().unwrap() >= 1);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_schedule_disables_the_job() {
    let sandbox = Sandbox::new(common::Backend::Sqlite).await;
    sandbox.write_shop();
    let server = TestServer::start(sandbox.config()).await; // the sandbox config has ""
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let health: Value = server.get("/health").await.json().await.unwrap();
    assert_eq!(health["jobs"], serde_json::json!({}));
    server.stop().await;
}
