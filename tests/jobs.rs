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

/// The runs of `job` a server reports in `/health`.
async fn runs(server: &TestServer, job: &str) -> u64 {
    let health: Value = server.get("/health").await.json().await.unwrap();
    health["jobs"][job]["runs"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_runs_only_on_the_replica_holding_its_lease() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_shop();
        let mut config = sandbox.config();
        config.jobs.maintenance.schedule = "* * * * * *".into();
        let first = TestServer::start(config.clone()).await;
        let second = TestServer::start(config).await;
        // A third replica takes the job (between two runs of the others).
        let db = sandbox.connect().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = chrono::Utc::now().timestamp_millis();
            if syncgate::store::job_leases::take(
                &db,
                "maintenance",
                "elsewhere",
                now,
                now + 600_000,
            )
            .await
            .unwrap()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{backend:?}: the lease was never free"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let held = runs(&first, "maintenance").await + runs(&second, "maintenance").await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let after = runs(&first, "maintenance").await + runs(&second, "maintenance").await;
        assert_eq!(
            after, held,
            "{backend:?}: a replica ran a job another replica holds"
        );

        // Once given back, the replicas take turns: both may run it, never both at once.
        syncgate::store::job_leases::release(&db, "maintenance", "elsewhere")
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while runs(&first, "maintenance").await + runs(&second, "maintenance").await <= held {
            assert!(
                Instant::now() < deadline,
                "{backend:?}: the job never ran again"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        first.stop().await;
        second.stop().await;
    }
}
