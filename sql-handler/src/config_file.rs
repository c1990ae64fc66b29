//! Settings from an optional TOML file, named by `--config FILE` or `SQL_HANDLER_CONFIG`.
//!
//! The keys are the flags' long names (`nats-url = "nats://10.0.0.1:4222"`, `_` works for
//! `-` too); a list stands for a repeated flag. A flag on the command line wins over its
//! environment variable, which wins over the file, which wins over the built-in default:
//! the file's values become the defaults of the command-line parser.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches};

use crate::config::Config;

/// The environment variable naming the file when `--config` is not given.
pub(crate) const CONFIG_VAR: &str = "SQL_HANDLER_CONFIG";

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The command line or the environment is invalid (or asked for `--help`).
    #[error(transparent)]
    Args(#[from] clap::Error),
    /// The file could not be read.
    #[error("cannot read the configuration file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("the configuration file {path} is not valid TOML: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key names no setting.
    #[error(
        "the configuration file {path} has an unknown setting '{key}' (the keys are the flags' names, such as nats-url)"
    )]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A value the setting does not take.
    #[error("the configuration file {path} sets '{key}' to an invalid value: {reason}")]
    FileValue {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// A value has a type no setting takes.
    #[error(
        "the configuration file {path} sets '{key}' to a table; give a string, number, boolean or a list of them"
    )]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
}

/// Parses `args` (the program name first) with the file's settings as defaults.
pub(crate) fn load(args: Vec<OsString>) -> Result<Config, ConfigError> {
    let mut command = Config::command();
    if let Some(path) = config_path(&args) {
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Toml {
                path: path.clone(),
                message: e.to_string(),
            })?;
        for (key, value) in table {
            let values = values(&path, &key, value)?;
            let long = key.replace('_', "-");
            let arg = command
                .get_arguments()
                .find(|arg| arg.get_long() == Some(long.as_str()) && long != "config")
                .cloned()
                .ok_or_else(|| ConfigError::UnknownKey {
                    path: path.clone(),
                    key: key.clone(),
                })?;
            // Checked here, so that a bad value is blamed on the file and its key rather
            // than on the flag the operator never typed.
            if arg.get_action().takes_values() {
                for value in &values {
                    clap::Command::new("sql-handler")
                        .no_binary_name(true)
                        .arg(arg.clone())
                        .try_get_matches_from([format!("--{long}"), value.clone()])
                        .map_err(|e| ConfigError::FileValue {
                            path: path.clone(),
                            key: key.clone(),
                            reason: reason(value, &e),
                        })?;
                }
            }
            command = command.mut_arg(arg.get_id().clone(), |arg| arg.default_values(values));
        }
    }
    let matches = command.try_get_matches_from(args)?;
    Ok(Config::from_arg_matches(&matches)?)
}

/// A value parser's complaint about `value`, without clap's framing (`error: `, the flag,
/// usage, help hint).
fn reason(value: &str, error: &clap::Error) -> String {
    let text = error.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first.rsplit_once("': ") {
        Some((_, why)) => format!("'{value}': {why}"),
        None => first.to_owned(),
    }
}

/// `--config FILE` or `--config=FILE` from `args`, else `SQL_HANDLER_CONFIG`.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            break;
        }
        if text == "--config" {
            return rest.next().map(PathBuf::from);
        }
        if let Some(path) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(CONFIG_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// A TOML value as the flag values it stands for.
fn values(path: &Path, key: &str, value: toml::Value) -> Result<Vec<String>, ConfigError> {
    let scalar = |value: toml::Value| match value {
        toml::Value::String(s) => Some(s),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    };
    let bad = || ConfigError::BadValue {
        path: path.to_owned(),
        key: key.to_owned(),
    };
    match value {
        toml::Value::Array(items) => items
            .into_iter()
            .map(|v| scalar(v).ok_or_else(bad))
            .collect(),
        other => Ok(vec![scalar(other).ok_or_else(bad)?]),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn load_with(file: &str, flags: &[&str]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sql-handler.toml");
        std::fs::write(&path, file).unwrap();
        let mut args: Vec<OsString> = vec!["sql-handler".into(), "--config".into(), path.into()];
        args.extend(flags.iter().map(OsString::from));
        load(args)
    }

    #[test]
    fn the_file_sets_defaults_and_flags_win() {
        let file = r#"
            nats-url = "nats://10.0.0.1:4222,nats://10.0.0.2:4222"
            max_concurrency = 16
            allow-function = ["lower", "upper"]
            plugin-rate-limit = ["analytics-db=100"]
            idempotency-retention-secs = 3600
        "#;
        let config = load_with(file, &[]).unwrap();
        assert_eq!(
            config.nats_urls(),
            ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]
        );
        assert_eq!(config.max_concurrency(), 16);
        assert_eq!(config.allow_functions(), ["lower", "upper"]);
        assert_eq!(config.plugin_rate_limits().len(), 1);
        assert_eq!(
            config.idempotency_retention(),
            std::time::Duration::from_secs(3600)
        );
        let config = load_with(file, &["--max-concurrency", "4"]).unwrap();
        assert_eq!(config.max_concurrency(), 4, "the flag wins");
        assert_eq!(config.sqlite_readers(), 4, "unset keys keep the default");
    }

    #[test]
    fn mistakes_in_the_file_are_named() {
        assert!(matches!(
            load_with("nats-ulr = \"x\"", &[]),
            Err(ConfigError::UnknownKey { key, .. }) if key == "nats-ulr"
        ));
        assert!(matches!(
            load_with("[nats-url]\nx = 1", &[]),
            Err(ConfigError::BadValue { key, .. }) if key == "nats-url"
        ));
        assert!(matches!(
            load_with("max-concurrency = ", &[]),
            Err(ConfigError::Toml { .. })
        ));
        // Values are checked as flags are, and blamed on the file and the key.
        let err = load_with("max-concurrency = 0", &[]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::FileValue { key, .. } if key == "max-concurrency"),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("sets 'max-concurrency' to an invalid value: ")
                && message.contains("sql-handler.toml")
                && message.contains("1..=10000"),
            "{message}"
        );
        let err = load_with("metrics_addr = \"nowhere\"", &[]).unwrap_err();
        assert!(err.to_string().contains("'metrics_addr'"), "{err}");
        assert!(matches!(
            load_with("config = \"other.toml\"", &[]),
            Err(ConfigError::UnknownKey { .. })
        ));
        let missing = load(vec![
            "sql-handler".into(),
            "--config=/nonexistent/sql-handler.toml".into(),
        ]);
        assert!(matches!(missing, Err(ConfigError::Read { .. })));
    }
}
