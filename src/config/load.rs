//! Reading the config layers with figment and turning every mistake into a message that names
//! the key, the value and where it came from.

use super::{Config, redact_url, validate};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use std::path::{Path, PathBuf};

/// Prefix of the environment variables that override config keys.
pub const ENV_PREFIX: &str = "SYNCGATE_";

/// Keys whose values are never printed, even in an error message.
const SECRET_KEYS: &[&str] = &[
    "auth.jwt_secret",
    "plugins.webhook_secret",
    "upstream.token",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "config file `{0}` does not exist. Pass `--config PATH` with the path of your config file, \
         or copy the commented `config.toml` from the syncgate repository and edit it"
    )]
    Missing(PathBuf),
    #[error("{}", format_problems(.0))]
    Invalid(Vec<String>),
}

fn format_problems(problems: &[String]) -> String {
    let mut text = format!(
        "the configuration has {} problem{}:",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for problem in problems {
        text.push_str("\n  - ");
        text.push_str(problem);
    }
    text
}

/// Loads `path` with the defaults beneath it and the `SYNCGATE_*` environment above it, checks
/// every value, and resolves relative paths against the config file's directory.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let config = read(path)?;
    let problems = validate::problems(&config);
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    Ok(config)
}

/// [`load`] without the checks of the values (see [`validate::problems`]), for a caller that adds checks
/// of its own and lists them all together.
pub fn read(path: &Path) -> Result<Config, ConfigError> {
    if !path.is_file() {
        return Err(ConfigError::Missing(path.to_path_buf()));
    }
    let figment = Figment::new()
        .merge(Toml::file_exact(path))
        .merge(Env::prefixed(ENV_PREFIX).split("__"));
    let mut config: Config = figment
        .extract()
        .map_err(|error| ConfigError::Invalid(describe_figment_error(&figment, error)))?;
    let base = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if base != Path::new(".") {
        resolve_relative_paths(&mut config, base);
    }
    Ok(config)
}

fn resolve_relative_paths(config: &mut Config, base: &Path) {
    for dir in [
        &mut config.paths.schemas,
        &mut config.paths.plugins,
        &mut config.files.dir,
    ] {
        if dir.is_relative() {
            *dir = base.join(&*dir);
        }
    }
    if let Some(key) = &mut config.auth.jwt_public_key
        && key.is_relative()
    {
        *key = base.join(&*key);
    }
    if let Some(file) = super::sqlite_path(&config.database.url)
        && file.is_relative()
    {
        let query = config
            .database
            .url
            .split_once('?')
            .map(|(_, query)| format!("?{query}"))
            .unwrap_or_default();
        config.database.url = format!("sqlite://{}{query}", base.join(file).display());
    }
}

fn describe_figment_error(figment: &Figment, error: figment::Error) -> Vec<String> {
    error
        .into_iter()
        .map(|error| {
            let key = error.path.join(".");
            let source = match &error.metadata {
                Some(meta) if meta.name.contains("environment") => {
                    format!(
                        " (from environment variable {ENV_PREFIX}{})",
                        error.path.join("__").to_uppercase()
                    )
                }
                Some(meta) => match &meta.source {
                    Some(source) => format!(" (in {source})"),
                    None => format!(" (from {})", meta.name),
                },
                None => String::new(),
            };
            let reason = describe_kind(&error.kind);
            let value = if key.is_empty() || SECRET_KEYS.contains(&key.as_str()) {
                String::new()
            } else {
                figment
                    .find_value(&key)
                    .ok()
                    .map(|value| format!(" = `{}`", redact_url(&value_text(&value))))
                    .unwrap_or_default()
            };
            if key.is_empty() {
                format!("{reason}{source}")
            } else {
                format!("key `{key}`{value}{source}: {reason}")
            }
        })
        .collect()
}

fn describe_kind(kind: &figment::error::Kind) -> String {
    use figment::error::Kind;
    match kind {
        Kind::UnknownField(field, expected) => {
            let mut text = format!(
                "unknown key `{field}`; the keys here are {}",
                expected
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(best) = crate::suggest::did_you_mean(field, expected.iter().copied()) {
                text.push_str(&format!(" — did you mean `{best}`?"));
            }
            text
        }
        Kind::UnknownVariant(variant, expected) => {
            let mut text = format!(
                "unknown value `{variant}`; expected one of {}",
                expected
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(best) = crate::suggest::did_you_mean(variant, expected.iter().copied()) {
                text.push_str(&format!(" — did you mean `{best}`?"));
            }
            text
        }
        other => other.to_string(),
    }
}

/// A config value as the user wrote it: strings bare, anything else as JSON.
fn value_text(value: &figment::value::Value) -> String {
    match value {
        figment::value::Value::String(_, text) => text.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}
