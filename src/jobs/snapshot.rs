//! An edge's incremental snapshot (`jobs.snapshot.schedule`): the hub's changes to the edge's
//! rows since the last one.

use super::{JobContext, ScheduledJob};
use crate::config::SnapshotJobConfig;
use crate::upstream::Upstream;
use std::sync::Arc;

pub fn job(context: &JobContext, upstream: &Upstream, config: &SnapshotJobConfig) -> ScheduledJob {
    let context = context.clone();
    let upstream = upstream.clone();
    ScheduledJob {
        name: "snapshot",
        schedule: config.schedule.clone(),
        leased: true,
        run: Arc::new(move || {
            let (context, upstream) = (context.clone(), upstream.clone());
            Box::pin(async move {
                let schema = (context.schema)();
                crate::upstream::snapshot::snapshot(
                    &context.db,
                    &context.feed,
                    &schema,
                    &upstream,
                    false,
                    None,
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
            })
        }),
    }
}
