//! `cradled --validate-config FILE`: the file parsed, then put through the
//! checks the daemon makes of a configuration at start that need no
//! running state and change nothing: the log filter, the `[streaming]`
//! table, and the RuntimeClass handlers against this host (the cgroup
//! driver and systemd, handler names, runtime binaries in `PATH`). Each
//! problem names its key and, where the file has it, its line.

use super::locate::{dotted, line_of, span_of};
use super::{Config, ConfigError};
use crate::core::context::resolve_handlers;
use crate::core::handlers::HandlerError;
use crate::platform::cgroup_host::CgroupHost;
use std::path::{Path, PathBuf};

/// Loads the file at `path` and checks it: the configuration, or every
/// problem found (a file that does not parse has one).
pub fn validate_file(path: &Path) -> Result<Config, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        vec![ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }]
    })?;
    let config = Config::from_toml(&text, path).map_err(|e| vec![e])?;
    let problems = check(&config, &text, path);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

/// The problems of `config`, read from `text` at `path`, that the daemon
/// would refuse it for at start.
pub fn check(config: &Config, text: &str, path: &Path) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    let mut invalid = |key: Vec<String>, message: String| {
        problems.push(ConfigError::Invalid {
            path: path.to_path_buf(),
            line: span_of(text, &key).map(|span| line_of(text, span.start)),
            key: dotted(&key),
            message,
        });
    };
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&config.log_level) {
        invalid(
            vec!["log_level".into()],
            format!("invalid log filter {:?}: {e}", config.log_level),
        );
    }
    if let Err(e) = config.streaming.to_config() {
        let message = match e {
            cradle_streaming::StreamError::InvalidRequest(message) => message,
            other => other.to_string(),
        };
        invalid(streaming_key(&message), message);
    }
    let launcher = config
        .oci_runtime_path
        .clone()
        .unwrap_or_else(|| PathBuf::from("cradle-oci"));
    if let Err(e) = resolve_handlers(config, &launcher, CgroupHost::detect()) {
        invalid(handler_key(&e), e.to_string());
    }
    problems
}

/// The key a `[streaming]` message names (`[streaming] address "x": ...`).
fn streaming_key(message: &str) -> Vec<String> {
    let name: String = message
        .strip_prefix("[streaming] ")
        .unwrap_or_default()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let mut key = vec!["streaming".to_string()];
    if !name.is_empty() {
        key.push(name);
    }
    key
}

/// The key a handler error is about.
fn handler_key(error: &HandlerError) -> Vec<String> {
    let handler = |name: &str, field: &str| {
        vec![
            "runtime_handlers".to_string(),
            name.to_string(),
            field.to_string(),
        ]
    };
    match error {
        HandlerError::BadName(name) => vec!["runtime_handlers".into(), name.clone()],
        HandlerError::UnknownDefault { .. } => vec!["default_runtime_handler".into()],
        HandlerError::MissingBinary { name, .. } => handler(name, "runtime"),
        HandlerError::DriverMismatch { name, .. } => handler(name, "systemd_cgroup"),
        HandlerError::NoSystemd => vec!["cgroup_driver".into()],
        HandlerError::ParentNotSlice(_) => vec!["default_cgroup_parent".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let config = Config::from_toml(text, Path::new("c.toml")).unwrap();
        check(&config, text, Path::new("c.toml"))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn the_defaults_have_no_problem() {
        assert_eq!(problems(""), Vec::<String>::new());
    }

    #[test]
    fn each_problem_names_its_key_and_line() {
        let text = "log_level = \"cradle=notalevel\"\n\
                    [streaming]\n\
                    address = \"nowhere\"\n\
                    [runtime_handlers.fast]\n\
                    runtime = \"/bin/sh\"\n\
                    systemd_cgroup = true\n";
        let found = problems(text);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].starts_with("config file c.toml, line 1, key `log_level`: "),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("config file c.toml, line 3, key `streaming.address`: "),
            "{found:?}"
        );
        assert!(
            found[2].starts_with(
                "config file c.toml, line 6, key `runtime_handlers.fast.systemd_cgroup`: "
            ),
            "{found:?}"
        );
    }

    #[test]
    fn a_key_the_file_leaves_out_has_no_line() {
        let text = "[runtime_handlers.fast]\nruntime = \"/bin/sh\"\n";
        let found = problems(text);
        assert_eq!(
            found,
            [
                "config file c.toml, key `default_runtime_handler`: default_runtime_handler \
                 \"cradle-oci\" is not a configured handler (configured: \"fast\")"
            ]
        );
    }

    #[test]
    fn keys_of_streaming_messages() {
        assert_eq!(
            streaming_key("[streaming] tls_cert and tls_key go together"),
            ["streaming", "tls_cert"]
        );
        assert_eq!(streaming_key("other"), ["streaming"]);
    }
}
