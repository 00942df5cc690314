//! Scheduled jobs (tokio-cron-scheduler). Each job has its own schedule key in `[jobs]`; an empty
//! schedule disables it. The last run of each job is kept for `/health`.

mod maintenance;
mod status;

pub use status::{JobStatus, JobsStatus};

use crate::config::JobsConfig;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

/// Parses a six-field cron expression (`sec min hour day month weekday`) the way the scheduler
/// does. An empty string is valid and means "disabled".
pub fn parse_schedule(schedule: &str) -> Result<Option<Cron>, String> {
    if schedule.trim().is_empty() {
        return Ok(None);
    }
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(schedule)
        .map(Some)
        .map_err(|error| {
            format!(
                "not a cron expression ({error}); use six fields `sec min hour day month weekday`, \
                 e.g. `0 */5 * * * *` for every five minutes, or an empty string to disable the job"
            )
        })
}

/// A job: its name (in logs and `/health`), its schedule, and what it does.
pub struct ScheduledJob {
    pub name: &'static str,
    pub schedule: String,
    pub run: Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>,
}

/// The jobs every gateway runs; an edge adds its drain and snapshot jobs.
pub fn common_jobs(config: &JobsConfig, db: DatabaseConnection) -> Vec<ScheduledJob> {
    vec![ScheduledJob {
        name: "maintenance",
        schedule: config.maintenance.schedule.clone(),
        run: Arc::new(move || {
            let db = db.clone();
            Box::pin(async move { maintenance::run(&db).await.map_err(|e| e.to_string()) })
        }),
    }]
}

/// Starts every job whose schedule is not empty. A run still going when the next is due is not
/// started twice. The returned scheduler runs until it is shut down.
pub async fn start(
    jobs: Vec<ScheduledJob>,
    status: JobsStatus,
) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    for job in jobs {
        if parse_schedule(&job.schedule).ok().flatten().is_none() {
            tracing::info!(job = job.name, "job disabled (empty schedule)");
            continue;
        }
        let running = Arc::new(tokio::sync::Mutex::new(()));
        let status = status.clone();
        let name = job.name;
        let run = job.run.clone();
        let scheduled = Job::new_async(job.schedule.as_str(), move |_id, _scheduler| {
            let running = running.clone();
            let status = status.clone();
            let run = run.clone();
            Box::pin(async move {
                let Ok(_guard) = running.try_lock() else {
                    tracing::debug!(job = name, "previous run still going; skipped");
                    return;
                };
                status.record(name, run().await);
            })
        })?;
        scheduler.add(scheduled).await?;
        tracing::info!(job = job.name, schedule = %job.schedule, "job scheduled");
    }
    scheduler.start().await?;
    Ok(scheduler)
}
