//! Removing unreferenced files and expired upload sessions (`jobs.files.schedule`).

use super::{JobContext, ScheduledJob};
use crate::config::{FilesConfig, FilesJobConfig};
use std::sync::Arc;

pub fn job(context: &JobContext, config: &FilesJobConfig, files: &FilesConfig) -> ScheduledJob {
    let context = context.clone();
    let grace = files.cleanup_grace.map(|g| g.as_millis() as i64);
    ScheduledJob {
        name: "files",
        schedule: config.schedule.clone(),
        leased: true,
        run: Arc::new(move || {
            let context = context.clone();
            Box::pin(async move {
                let schema = (context.schema)();
                let is_edge = context.upstream.is_some();
                crate::files::cleanup::cleanup(
                    &context.db,
                    &schema,
                    context.files.as_ref(),
                    is_edge,
                    grace,
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
            })
        }),
    }
}
