//! Config layering (defaults < file < SYNCGATE_* environment) and the messages for bad values.

// `Jail::expect_with` closures return figment's own (large) error type.
#![allow(clippy::result_large_err)]

use figment::Jail;
use std::path::Path;
use std::time::Duration;
use syncgate::config::{ConfigError, load};

const SECRET: &str = "a-jwt-secret-for-the-config-tests";

fn problems(error: ConfigError) -> String {
    error.to_string()
}

#[test]
fn environment_overrides_file_overrides_defaults() {
    Jail::expect_with(|jail| {
        jail.set_env("SYNCGATE_AUTH__JWT_SECRET", SECRET);
        jail.create_file(
            "config.toml",
            "[server]\nlisten = \"127.0.0.1:9000\"\napi_prefix = \"/sync\"\n",
        )?;
        jail.set_env("SYNCGATE_SERVER__LISTEN", "127.0.0.1:9001");
        jail.set_env("SYNCGATE_DATABASE__URL", "postgres://app:pw@db.local/sync");
        let config = load(Path::new("config.toml")).expect("loads");
        assert_eq!(
            config.server.listen.port(),
            9001,
            "environment wins over the file"
        );
        assert_eq!(
            config.server.api_prefix, "/sync",
            "the file wins over defaults"
        );
        assert_eq!(
            config.server.shutdown_timeout,
            Duration::from_secs(30),
            "default kept"
        );
        assert_eq!(config.database.url, "postgres://app:pw@db.local/sync");
        Ok(())
    });
}

#[test]
fn an_unknown_key_in_the_file_is_named_with_a_suggestion() {
    Jail::expect_with(|jail| {
        jail.create_file("config.toml", "[server]\nlisen = \"127.0.0.1:9000\"\n")?;
        let message = problems(load(Path::new("config.toml")).unwrap_err());
        assert!(message.contains("key `server.lisen`"), "{message}");
        assert!(message.contains("config.toml"), "{message}");
        assert!(message.contains("did you mean `listen`?"), "{message}");
        Ok(())
    });
}

#[test]
fn an_unknown_environment_variable_is_named() {
    Jail::expect_with(|jail| {
        jail.create_file("config.toml", "")?;
        jail.set_env("SYNCGATE_DATABASE__URLL", "sqlite://x.db");
        let message = problems(load(Path::new("config.toml")).unwrap_err());
        assert!(message.contains("SYNCGATE_DATABASE__URLL"), "{message}");
        assert!(message.contains("did you mean `url`?"), "{message}");
        Ok(())
    });
}

#[test]
fn bad_values_are_named_with_key_and_value() {
    let cases = [
        (
            "[database]\nurl = \"not a url\"\n",
            "key `database.url` = `not a url`",
        ),
        (
            "[database]\nurl = \"mysql://localhost/db\"\n",
            "unsupported scheme `mysql`",
        ),
        (
            "[jobs.maintenance]\nschedule = \"0 61 * * * *\"\n",
            "key `jobs.maintenance.schedule` = `0 61 * * * *`",
        ),
        (
            "[server]\nshutdown_timeout = \"5 parsecs\"\n",
            "key `server.shutdown_timeout` = `5 parsecs`",
        ),
        (
            "[server]\nlisten = \"localhost\"\n",
            "key `server.listen` = `localhost`",
        ),
        (
            "[server]\napi_prefix = \"api/\"\n",
            "key `server.api_prefix` = `api/`",
        ),
        ("[log]\nformat = \"xml\"\n", "unknown value `xml`"),
        (
            "[server]\nmax_body_bytes = \"lots\"\n",
            "key `server.max_body_bytes` = `lots`",
        ),
    ];
    for (text, expected) in cases {
        Jail::expect_with(|jail| {
            jail.create_file("config.toml", text)?;
            let message = problems(load(Path::new("config.toml")).unwrap_err());
            assert!(message.contains(expected), "{text}: {message}");
            Ok(())
        });
    }
}

#[test]
fn several_problems_are_listed_together() {
    Jail::expect_with(|jail| {
        jail.set_env("SYNCGATE_AUTH__JWT_SECRET", SECRET);
        jail.create_file(
            "config.toml",
            "[database]\nurl = \"ftp://x\"\n[jobs.maintenance]\nschedule = \"never\"\n",
        )?;
        let message = problems(load(Path::new("config.toml")).unwrap_err());
        assert!(message.contains("2 problems"), "{message}");
        assert!(message.contains("database.url") && message.contains("jobs.maintenance.schedule"));
        Ok(())
    });
}

#[test]
fn a_missing_file_says_what_to_do() {
    Jail::expect_with(|_jail| {
        let message = problems(load(Path::new("nowhere.toml")).unwrap_err());
        assert!(
            message.contains("`nowhere.toml` does not exist"),
            "{message}"
        );
        assert!(message.contains("--config"), "{message}");
        Ok(())
    });
}

#[test]
fn secrets_stay_out_of_debug_output_and_errors() {
    Jail::expect_with(|jail| {
        jail.set_env("SYNCGATE_AUTH__JWT_SECRET", SECRET);
        jail.create_file(
            "config.toml",
            "[database]\nurl = \"postgres://app:hunter2@db.local/sync\"\n",
        )?;
        let config = load(Path::new("config.toml")).expect("loads");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(
            debug.contains("postgres://app:***@db.local/sync"),
            "{debug}"
        );

        jail.create_file(
            "config.toml",
            "[database]\nurl = \"postgres://app:hunter2@db.local/sync\"\nmax_connections = 0\n",
        )?;
        let message = problems(load(Path::new("config.toml")).unwrap_err());
        assert!(!message.contains("hunter2"), "{message}");
        Ok(())
    });
}

#[test]
fn relative_paths_follow_the_config_file() {
    Jail::expect_with(|jail| {
        jail.set_env("SYNCGATE_AUTH__JWT_SECRET", SECRET);
        jail.create_dir("etc")?;
        jail.create_file(
            "etc/config.toml",
            "[database]\nurl = \"sqlite://data/x.db?mode=rwc\"\n",
        )?;
        let config = load(Path::new("etc/config.toml")).expect("loads");
        assert_eq!(config.paths.schemas, Path::new("etc/schemas"));
        assert_eq!(config.paths.plugins, Path::new("etc/plugins"));
        assert_eq!(config.database.url, "sqlite://etc/data/x.db?mode=rwc");
        Ok(())
    });
}
