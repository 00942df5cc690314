//! An edge's drain (`jobs.drain`): pushes pending outbox entries to the hub.

use super::{JobContext, ScheduledJob};
use crate::config::DrainJobConfig;
use crate::upstream::Upstream;
use std::sync::Arc;

pub fn job(context: &JobContext, upstream: &Upstream, config: &DrainJobConfig) -> ScheduledJob {
    let db = context.db.clone();
    let upstream = upstream.clone();
    let settings = config.clone();
    ScheduledJob {
        name: "drain",
        schedule: config.schedule.clone(),
        // Entries are leased one by one: replicas may drain together.
        leased: false,
        run: Arc::new(move || {
            let (db, upstream, settings) = (db.clone(), upstream.clone(), settings.clone());
            Box::pin(async move {
                let report = crate::upstream::drain::drain(&db, &upstream, &settings)
                    .await
                    .map_err(|e| e.to_string())?;
                // A run that could not deliver what it took counts as failed, so that
                // `/health` and `syncgate_job_runs_total` show an unreachable hub.
                match report.last_error {
                    Some(error) if report.failed > 0 => Err(format!(
                        "{} outbox entries not delivered (they are retried): {error}",
                        report.failed
                    )),
                    _ => Ok(()),
                }
            })
        }),
    }
}
