//! What a job's `schedule` key may hold.

use croner::Cron;
use croner::parser::{CronParser, Seconds};

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
