//! The last run of each job, shared between the scheduler and `/health`.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Serialize, poem_openapi::Object)]
pub struct JobStatus {
    /// When the job last finished (RFC 3339).
    pub last_run: String,
    /// Whether that run succeeded.
    pub ok: bool,
    /// The error of that run, if it failed.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    /// How many times the job has run since the gateway started.
    pub runs: u64,
}

#[derive(Debug, Clone, Default)]
pub struct JobsStatus(Arc<Mutex<BTreeMap<String, JobStatus>>>);

impl JobsStatus {
    pub fn record(&self, job: &str, result: Result<(), String>) {
        if let Err(error) = &result {
            tracing::warn!(job, %error, "job failed");
        }
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!(crate::ops::metrics::JOB_RUNS, "job" => job.to_string(), "outcome" => outcome)
            .increment(1);
        let mut jobs = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let runs = jobs.get(job).map_or(0, |status| status.runs) + 1;
        jobs.insert(
            job.to_string(),
            JobStatus {
                last_run: chrono::Utc::now().to_rfc3339(),
                ok: result.is_ok(),
                error: result.err(),
                runs,
            },
        );
    }

    pub fn snapshot(&self) -> BTreeMap<String, JobStatus> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}
