//! Scheduled jobs (tokio-cron-scheduler). Each job has its own schedule key in `[jobs]`; an empty
//! schedule disables it. The last run of each job is kept for `/health`.

mod maintenance;
mod status;

pub use status::{JobStatus, JobsStatus};

use crate::config::JobsConfig;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use sea_orm::DatabaseConnection;
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

/// Starts every enabled job. The returned scheduler runs until it is shut down.
pub async fn start(
    config: &JobsConfig,
    db: DatabaseConnection,
    status: JobsStatus,
) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    let schedule = &config.maintenance.schedule;
    if parse_schedule(schedule).ok().flatten().is_some() {
        let job = Job::new_async(schedule.as_str(), move |_id, _scheduler| {
            let db = db.clone();
            let status = status.clone();
            Box::pin(async move {
                let result = maintenance::run(&db).await;
                status.record("maintenance", result.map_err(|error| error.to_string()));
            })
        })?;
        scheduler.add(job).await?;
        tracing::info!(job = "maintenance", %schedule, "job scheduled");
    } else {
        tracing::info!(job = "maintenance", "job disabled (empty schedule)");
    }
    scheduler.start().await?;
    Ok(scheduler)
}
