//! Checks of config values that serde cannot express: URL schemes, cron expressions, the API
//! prefix, the log filter. Each problem names the key and the value.

use super::{Config, redact_url};

/// Every problem found, in key order; empty when the config is usable.
pub fn problems(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();

    let prefix = &config.server.api_prefix;
    if !prefix.is_empty() && (!prefix.starts_with('/') || prefix.ends_with('/')) {
        problems.push(format!(
            "key `server.api_prefix` = `{prefix}`: must be empty or start with `/` and not end \
             with `/`, e.g. `/api/v1`"
        ));
    }
    if config.sync.key_node > super::MAX_KEY_NODE {
        problems.push(format!(
            "key `sync.key_node` = `{}`: must be 0 (a hub) to {} (an edge)",
            config.sync.key_node,
            super::MAX_KEY_NODE
        ));
    }
    if config.server.max_body_bytes == 0 {
        problems.push("key `server.max_body_bytes` = `0`: must be at least 1".into());
    }
    for origin in &config.server.cors.allowed_origins {
        if let Err(reason) = super::check_origin(origin) {
            problems.push(format!(
                "key `server.cors.allowed_origins` = `{origin}`: {reason}"
            ));
        }
    }
    if config.metrics.listen == Some(config.server.listen) {
        problems.push(format!(
            "key `metrics.listen` = `{}`: is `server.listen` too; leave it out to serve /metrics \
             there, or give another port",
            config.server.listen
        ));
    }

    if let Err(reason) = check_database_url(&config.database.url) {
        problems.push(format!(
            "key `database.url` = `{}`: {reason}",
            redact_url(&config.database.url)
        ));
    }
    if config.database.max_connections == 0 {
        problems.push("key `database.max_connections` = `0`: must be at least 1".into());
    }

    if let Err(reason) = tracing_subscriber::EnvFilter::try_new(&config.log.level) {
        problems.push(format!(
            "key `log.level` = `{}`: not a tracing filter ({reason}); use e.g. `info` or \
             `syncgate=debug,info`",
            config.log.level
        ));
    }

    if let Err(reason) = tracing_subscriber::EnvFilter::try_new(&config.tracing.level) {
        problems.push(format!(
            "key `tracing.level` = `{}`: not a tracing filter ({reason}); use e.g. \
             `syncgate=info` or `syncgate=debug`",
            config.tracing.level
        ));
    }
    if let Some(endpoint) = &config.tracing.endpoint
        && !matches!(url::Url::parse(endpoint), Ok(url) if matches!(url.scheme(), "http" | "https"))
    {
        problems.push(format!(
            "key `tracing.endpoint` = `{endpoint}`: must be an http:// or https:// URL of an \
             OTLP/HTTP collector, e.g. `http://127.0.0.1:4318`"
        ));
    }

    // Whether a key file holds a usable key is the authenticator's to say (`check::load_config`).
    if config.auth.jwt_secret.is_none() && config.auth.jwt_public_key.is_none() {
        problems.push(super::NO_AUTH_KEY.into());
    }
    if config.sync.max_batch == 0 {
        problems.push("key `sync.max_batch` = `0`: must be at least 1".into());
    }
    if config.devices.token_ttl < std::time::Duration::from_secs(1) {
        problems.push(format!(
            "key `devices.token_ttl` = `{}`: must be at least 1s",
            humantime::format_duration(config.devices.token_ttl)
        ));
    }
    if config.devices.activity_flush.is_zero() {
        problems.push("key `devices.activity_flush` = `0s`: must be longer than zero".into());
    }
    if config.sync.stream_heartbeat.is_zero() {
        problems.push("key `sync.stream_heartbeat` = `0s`: must be longer than zero".into());
    }
    if config.sync.external_poll.is_zero() {
        problems.push("key `sync.external_poll` = `0s`: must be longer than zero".into());
    }
    if config.sync.poll_interval.is_zero() {
        problems.push("key `sync.poll_interval` = `0s`: must be longer than zero".into());
    }

    for (key, schedule) in [(
        "jobs.maintenance.schedule",
        &config.jobs.maintenance.schedule,
    )] {
        if let Err(reason) = super::parse_schedule(schedule) {
            problems.push(format!("key `{key}` = `{schedule}`: {reason}"));
        }
    }
    problems
}

fn check_database_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|error| {
        format!("not a URL ({error}); use `sqlite://data/syncgate.db` or `postgres://user:password@host/db`")
    })?;
    match parsed.scheme() {
        "sqlite" => {
            if super::sqlite_path(url).is_none() {
                return Err("names no file; use e.g. `sqlite://data/syncgate.db`".into());
            }
            Ok(())
        }
        "postgres" | "postgresql" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err("names no host; use `postgres://user:password@host/db`".into());
            }
            Ok(())
        }
        other => Err(format!(
            "unsupported scheme `{other}`; syncgate stores data in `sqlite` or `postgres`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_defaults_with_a_key() {
        let mut config = Config::default();
        assert_eq!(problems(&config).len(), 1, "no key to verify tokens with");
        config.auth.jwt_secret = Some(crate::config::Secret::new(
            "a-test-secret-of-32-bytes-or-more",
        ));
        assert!(problems(&config).is_empty());
    }

    #[test]
    fn names_key_and_value_of_each_problem() {
        let mut config = Config::default();
        config.auth.jwt_secret = Some(crate::config::Secret::new(
            "a-test-secret-of-32-bytes-or-more",
        ));
        config.server.api_prefix = "api/".into();
        config.database.url = "mysql://root:pw@localhost/db".into();
        config.jobs.maintenance.schedule = "every day".into();
        let found = problems(&config);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains("`server.api_prefix` = `api/`"));
        assert!(found[1].contains("`database.url` = `mysql://root:***@localhost/db`"));
        assert!(found[1].contains("unsupported scheme `mysql`"));
        assert!(found[2].contains("`jobs.maintenance.schedule` = `every day`"));
    }

    #[test]
    fn an_allowed_origin_is_a_bare_origin() {
        let mut config = Config::default();
        config.auth.jwt_secret = Some(crate::config::Secret::new(
            "a-test-secret-of-32-bytes-or-more",
        ));
        config.server.cors.allowed_origins = vec![
            "https://app.example.com".into(),
            "http://localhost:5173".into(),
            "*".into(),
            "https://app.example.com/path".into(),
            "app.example.com".into(),
        ];
        let found = problems(&config);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].contains("did you mean `https://app.example.com`"),
            "{found:?}"
        );
        assert!(found[1].contains("`server.cors.allowed_origins` = `app.example.com`"));
    }
}
