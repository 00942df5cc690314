//! Scheduled jobs (tokio-cron-scheduler). Each job has its own schedule key in `[jobs]`; an empty
//! schedule disables it. The last run of each job is kept for `/health`.
//!
//! Replicas sharing one database take turns: a run starts only after its replica took the job's
//! lease in the database (`syncgate_job_leases`), renews it while it runs, and gives it back when
//! it ends. A replica that dies mid-run holds the job until [`JOB_LEASE`] has passed.

mod drain;
mod files;
mod maintenance;
mod snapshot;
mod status;

pub use status::{JobStatus, JobsStatus};

use crate::config::{Config, parse_schedule};
use crate::files::storage::FileStorage;
use crate::schema::CurrentSchema;
use crate::store::job_leases;
use crate::sync::feed::Feed;
use crate::upstream::Upstream;
use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::Instrument;

/// A job: its name (in logs and `/health`), its schedule, and what it does.
pub struct ScheduledJob {
    pub name: &'static str,
    pub schedule: String,
    /// Whether a run first takes the job's lease. Off for a job that leases its own work item
    /// by item (the drain), so that replicas may share it.
    pub leased: bool,
    pub run: Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>,
}

/// What the jobs work on.
#[derive(Clone)]
pub struct JobContext {
    pub db: DatabaseConnection,
    pub feed: Feed,
    pub schema: CurrentSchema,
    /// Where files of `file` columns are stored.
    pub files: Arc<dyn FileStorage>,
    /// The hub, on an edge.
    pub upstream: Option<Upstream>,
}

/// Every job of this gateway: maintenance and files cleanup; on an edge also the drain and the
/// snapshot.
pub fn all(context: &JobContext, config: &Config) -> Vec<ScheduledJob> {
    let mut jobs = vec![
        maintenance::job(context, &config.jobs.maintenance),
        files::job(context, &config.jobs.files, &config.files),
    ];
    if let Some(upstream) = &context.upstream {
        jobs.push(drain::job(context, upstream, &config.jobs.drain));
        jobs.push(snapshot::job(context, upstream, &config.jobs.snapshot));
    }
    jobs
}

/// How long a job's lease lasts; a running job renews it every third of that.
pub const JOB_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// Starts every job whose schedule is not empty. A run still going when the next is due is not
/// started twice, in this process or (by the job's lease) on another replica. The returned
/// scheduler runs until it is shut down.
pub async fn start(
    jobs: Vec<ScheduledJob>,
    status: JobsStatus,
    db: DatabaseConnection,
) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    let holder = uuid::Uuid::new_v4().to_string();
    for job in jobs {
        if parse_schedule(&job.schedule).ok().flatten().is_none() {
            tracing::info!(job = job.name, "job disabled (empty schedule)");
            continue;
        }
        let running = Arc::new(tokio::sync::Mutex::new(()));
        let status = status.clone();
        let name = job.name;
        let run = job.run.clone();
        let leased = job.leased;
        let (db, holder) = (db.clone(), holder.clone());
        let scheduled = Job::new_async(job.schedule.as_str(), move |_id, _scheduler| {
            let running = running.clone();
            let status = status.clone();
            let run = run.clone();
            let (db, holder) = (db.clone(), holder.clone());
            let span = tracing::info_span!("job", job = name);
            Box::pin(async move {
                let Ok(_guard) = running.try_lock() else {
                    tracing::debug!(job = name, "previous run still going; skipped");
                    return;
                };
                if !leased {
                    status.record(name, run().await);
                    return;
                }
                match take_lease(&db, name, &holder).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::debug!(job = name, "another replica runs this job; skipped");
                        return;
                    }
                    Err(error) => {
                        status.record(name, Err(format!("cannot take the job's lease: {error}")));
                        return;
                    }
                }
                let renewal = tokio::spawn({
                    let (db, holder) = (db.clone(), holder.clone());
                    async move {
                        loop {
                            tokio::time::sleep(JOB_LEASE / 3).await;
                            if let Err(error) = take_lease(&db, name, &holder).await {
                                tracing::warn!(job = name, %error, "cannot renew the job's lease");
                            }
                        }
                    }
                });
                let outcome = run().await;
                renewal.abort();
                if let Err(error) = job_leases::release(&db, name, &holder).await {
                    tracing::warn!(job = name, %error, "cannot give the job's lease back; it expires");
                }
                status.record(name, outcome);
            }.instrument(span))
        })?;
        scheduler.add(scheduled).await?;
        tracing::info!(job = job.name, schedule = %job.schedule, "job scheduled");
    }
    scheduler.start().await?;
    Ok(scheduler)
}

/// Takes (or, for its holder, renews) the lease of job `name` for [`JOB_LEASE`].
async fn take_lease(
    db: &DatabaseConnection,
    name: &str,
    holder: &str,
) -> Result<bool, sea_orm::DbErr> {
    let now = chrono::Utc::now().timestamp_millis();
    job_leases::take(db, name, holder, now, now + JOB_LEASE.as_millis() as i64).await
}
