//! Daemon configuration: built-in defaults, then `/etc/cradle/config.toml`,
//! then command-line flags, each overriding the one before. Every key is
//! documented once, in [`reference`]; [`render`] turns that into the
//! commented default file and `docs/config.md`, and [`validate`] is
//! `cradled --validate-config`.

mod locate;
pub mod reference;
pub mod render;
pub mod validate;

use crate::core::handlers::{CgroupDriver, DEFAULT_CGROUP_PARENT, DEFAULT_HANDLER, HandlerConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Default location of the configuration file.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/cradle/config.toml";

/// Errors of loading the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("reading config file {path}: {source}")]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// The read error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, names an unknown key or gives a key a
    /// value of the wrong type.
    #[error("config file {}: {message}", at(path, *line, key.as_deref()))]
    Parse {
        /// The configuration file.
        path: PathBuf,
        /// The line the parser stopped at, when it says.
        line: Option<usize>,
        /// The dotted key the error is in, when the text parses as TOML.
        key: Option<String>,
        /// The parser's words.
        message: String,
    },
    /// A key's value parses but cannot be used (on this host).
    #[error("config file {}: {message}", at(path, *line, Some(key)))]
    Invalid {
        /// The configuration file.
        path: PathBuf,
        /// The line of the key, or of its nearest table, when the file has it.
        line: Option<usize>,
        /// The dotted key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// `FILE, line N, key `K`` for a message, leaving out what is not known.
fn at(path: &Path, line: Option<usize>, key: Option<&str>) -> String {
    let mut out = path.display().to_string();
    if let Some(line) = line {
        out.push_str(&format!(", line {line}"));
    }
    if let Some(key) = key {
        out.push_str(&format!(", key `{key}`"));
    }
    out
}

/// The format of the daemon's log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines (`tracing`'s default format).
    #[default]
    Text,
    /// One JSON object a line, with the span fields (pod and container ids).
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other:?}: text or json")),
        }
    }
}

/// The effective configuration of `cradled`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// CRI socket path.
    pub socket: PathBuf,
    /// Persistent state: metadata store, content, snapshots, bundles.
    pub root: PathBuf,
    /// Volatile state: shim state dirs, namespace pins, OCI runtime state.
    pub state_dir: PathBuf,
    /// CNI configuration directory.
    pub cni_conf_dir: PathBuf,
    /// CNI plugin directories, searched in order.
    pub cni_bin_dirs: Vec<PathBuf>,
    /// Registries spoken to over plain HTTP (shorthand for the same list in `[registry]`).
    pub insecure_registries: Vec<String>,
    /// The `[registry]` table: credentials file, per-host mirrors, plain HTTP and CAs,
    /// download concurrency and stall timeout.
    pub registry: cradle_snapshotter::RegistrySettings,
    /// `tracing` filter, e.g. `info` or `cradle_daemon=debug`.
    pub log_level: String,
    /// How log lines are written to stderr: `text` or `json` (one object a line).
    pub log_format: LogFormat,
    /// Where the Prometheus metrics endpoint listens (`/metrics`), e.g.
    /// `127.0.0.1:9795`; `None`, the default: no endpoint. The endpoint has no
    /// authentication, so a non-loopback address is logged as a warning.
    pub metrics_address: Option<std::net::SocketAddr>,
    /// The `cradle-shim` binary; `None`: next to the daemon's executable.
    pub shim_path: Option<PathBuf>,
    /// The `cradle-oci` binary; `None`: next to the daemon's executable.
    pub oci_runtime_path: Option<PathBuf>,
    /// Cgroup parent of pods whose config names none (a slice name such
    /// as `system.slice` under the systemd driver, where the built-in
    /// default means `system.slice`).
    pub default_cgroup_parent: String,
    /// The `[streaming]` table: address and TLS of the Exec/PortForward server.
    pub streaming: cradle_streaming::StreamingSettings,
    /// Directories of CDI spec files (`*.json`, `*.yaml`), read at each
    /// CreateContainer that asks for CDI devices; a device defined in a
    /// later directory overrides one of the same name in an earlier one.
    pub cdi_spec_dirs: Vec<PathBuf>,
    /// The `[runtime_handlers.<name>]` tables: the RuntimeClass handlers
    /// (`runtime`, `root`, `systemd_cgroup`, `extra_args`). Empty: the
    /// built-ins, `cradle-oci` plus `runc` and `crun` where installed.
    pub runtime_handlers: BTreeMap<String, HandlerConfig>,
    /// The handler a pod without one (`runtime_handler: ""`) runs with.
    pub default_runtime_handler: String,
    /// `cgroupfs` or `systemd`, as the kubelet's `cgroupDriver`: the form
    /// of cgroup parents, and `--systemd-cgroup` to every handler.
    pub cgroup_driver: CgroupDriver,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            socket: PathBuf::from("/run/cradle/cradle.sock"),
            root: PathBuf::from("/var/lib/cradle"),
            state_dir: PathBuf::from("/run/cradle"),
            cni_conf_dir: PathBuf::from("/etc/cni/net.d"),
            cni_bin_dirs: vec![PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")],
            insecure_registries: Vec::new(),
            registry: cradle_snapshotter::RegistrySettings::default(),
            log_level: "info".to_string(),
            log_format: LogFormat::Text,
            metrics_address: None,
            shim_path: None,
            oci_runtime_path: None,
            default_cgroup_parent: DEFAULT_CGROUP_PARENT.to_string(),
            streaming: cradle_streaming::StreamingSettings::default(),
            cdi_spec_dirs: vec![PathBuf::from("/etc/cdi"), PathBuf::from("/var/run/cdi")],
            runtime_handlers: BTreeMap::new(),
            default_runtime_handler: DEFAULT_HANDLER.to_string(),
            cgroup_driver: CgroupDriver::Cgroupfs,
        }
    }
}

/// Values given on the command line; each `Some` overrides the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--socket`: the CRI socket path.
    pub socket: Option<PathBuf>,
    /// `--root`: the persistent state dir.
    pub root: Option<PathBuf>,
    /// `--state-dir`: the volatile state dir.
    pub state_dir: Option<PathBuf>,
    /// `--cni-conf-dir`: the CNI configuration dir.
    pub cni_conf_dir: Option<PathBuf>,
    /// A `:`-separated list, as `--cni-bin-dir` takes it.
    pub cni_bin_dir: Option<String>,
    /// Added to the file's list.
    pub insecure_registries: Vec<String>,
    /// `--log-level`: the `tracing` filter.
    pub log_level: Option<String>,
    /// `--log-format`: text or json.
    pub log_format: Option<LogFormat>,
}

impl Config {
    /// Parses a TOML document; absent keys keep their defaults. An error
    /// names the line and the key it is in.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|error| {
            let offset = error.span().map(|span| span.start);
            ConfigError::Parse {
                path: path.to_path_buf(),
                line: offset.map(|offset| locate::line_of(text, offset)),
                key: offset
                    .and_then(|offset| locate::key_at(text, offset))
                    .map(|key| locate::dotted(&key)),
                message: error.message().trim_end().to_string(),
            }
        })
    }

    /// Loads the file at `path`. `explicit`: the user named it, so a missing file is
    /// an error; otherwise a missing default file means built-in defaults.
    pub fn load(path: &Path, explicit: bool) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_toml(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                Ok(Config::default())
            }
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// What the image store pulls with: the `[registry]` table plus the top-level
    /// and command-line insecure registries.
    pub fn registry_settings(&self) -> cradle_snapshotter::RegistrySettings {
        let mut settings = self.registry.clone();
        for host in &self.insecure_registries {
            if !settings.insecure_registries.contains(host) {
                settings.insecure_registries.push(host.clone());
            }
        }
        settings
    }

    /// Applies command-line overrides.
    pub fn apply(&mut self, flags: Overrides) {
        if let Some(v) = flags.socket {
            self.socket = v;
        }
        if let Some(v) = flags.root {
            self.root = v;
        }
        if let Some(v) = flags.state_dir {
            self.state_dir = v;
        }
        if let Some(v) = flags.cni_conf_dir {
            self.cni_conf_dir = v;
        }
        if let Some(v) = flags.cni_bin_dir {
            self.cni_bin_dirs = std::env::split_paths(&v).collect();
        }
        for registry in flags.insecure_registries {
            if !self.insecure_registries.contains(&registry) {
                self.insecure_registries.push(registry);
            }
        }
        if let Some(v) = flags.log_level {
            self.log_level = v;
        }
        if let Some(v) = flags.log_format {
            self.log_format = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_table_sets_mirrors_and_merges_insecure_hosts() {
        let text = "insecure_registries = [\"a:1\"]\n\
                    [registry]\n\
                    insecure_registries = [\"b:2\"]\n\
                    stall_timeout_secs = 5\n\
                    [registry.hosts.\"docker.io\"]\n\
                    mirrors = [\"http://127.0.0.1:5000\"]\n";
        let config = Config::from_toml(text, Path::new("c.toml")).unwrap();
        let settings = config.registry_settings();
        assert_eq!(settings.insecure_registries, vec!["b:2", "a:1"]);
        assert_eq!(settings.stall_timeout_secs, 5);
        assert_eq!(
            settings.hosts["docker.io"].mirrors,
            vec!["http://127.0.0.1:5000"]
        );
    }

    #[test]
    fn missing_default_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::load(&dir.path().join("absent.toml"), false).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Config::load(&dir.path().join("absent.toml"), true),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn file_overrides_defaults_and_flags_override_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "root = \"/srv/cradle\"\nstate_dir = \"/run/c\"\ninsecure_registries = [\"reg:5000\"]\n",
        )
        .unwrap();
        let mut config = Config::load(&path, true).unwrap();
        assert_eq!(config.root, PathBuf::from("/srv/cradle"));
        assert_eq!(config.socket, PathBuf::from("/run/cradle/cradle.sock"));
        config.apply(Overrides {
            state_dir: Some("/tmp/state".into()),
            cni_bin_dir: Some("/a:/b".into()),
            insecure_registries: vec!["other:1".into(), "reg:5000".into()],
            ..Overrides::default()
        });
        assert_eq!(config.root, PathBuf::from("/srv/cradle"));
        assert_eq!(config.state_dir, PathBuf::from("/tmp/state"));
        assert_eq!(
            config.cni_bin_dirs,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(config.insecure_registries, vec!["reg:5000", "other:1"]);
    }

    #[test]
    fn cdi_spec_dirs_default_to_etc_and_var_run_and_can_be_set() {
        let config = Config::default();
        assert_eq!(
            config.cdi_spec_dirs,
            [PathBuf::from("/etc/cdi"), PathBuf::from("/var/run/cdi")]
        );
        let config =
            Config::from_toml("cdi_spec_dirs = [\"/opt/cdi\"]", Path::new("x.toml")).unwrap();
        assert_eq!(config.cdi_spec_dirs, [PathBuf::from("/opt/cdi")]);
    }

    #[test]
    fn runtime_handlers_and_the_cgroup_driver_parse() {
        let text = "default_runtime_handler = \"fast\"\n\
                    cgroup_driver = \"systemd\"\n\
                    [runtime_handlers.fast]\n\
                    runtime = \"/usr/bin/crun\"\n\
                    root = \"/run/fast\"\n\
                    systemd_cgroup = true\n\
                    extra_args = [\"--debug\"]\n\
                    [runtime_handlers.cradle-oci]\n";
        let config = Config::from_toml(text, Path::new("c.toml")).unwrap();
        assert_eq!(config.default_runtime_handler, "fast");
        assert_eq!(config.cgroup_driver, CgroupDriver::Systemd);
        let fast = &config.runtime_handlers["fast"];
        assert_eq!(fast.runtime, Some(PathBuf::from("/usr/bin/crun")));
        assert_eq!(fast.root, Some(PathBuf::from("/run/fast")));
        assert_eq!(fast.systemd_cgroup, Some(true));
        assert_eq!(fast.extra_args, ["--debug"]);
        assert_eq!(
            config.runtime_handlers["cradle-oci"],
            HandlerConfig::default()
        );
        let defaults = Config::default();
        assert_eq!(defaults.default_runtime_handler, "cradle-oci");
        assert_eq!(defaults.cgroup_driver, CgroupDriver::Cgroupfs);
        assert!(defaults.runtime_handlers.is_empty());
    }

    #[test]
    fn handler_and_driver_errors_name_the_key() {
        let err = Config::from_toml("cgroup_driver = \"openrc\"", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cgroup_driver"), "{err}");
        let err = Config::from_toml(
            "[runtime_handlers.runc]\nbinary = \"runc\"",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        // The parser names the unknown key and its line.
        assert!(
            err.contains("unknown field `binary`")
                && err.contains("line 2")
                && err.contains("key `runtime_handlers.runc.binary`"),
            "{err}"
        );
        let err = Config::from_toml(
            "[runtime_handlers.runc]\nextra_args = \"--debug\"",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("extra_args"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(Config::from_toml("sockett = \"/x\"", Path::new("c.toml")).is_err());
    }

    #[test]
    fn type_errors_name_the_file_the_line_and_the_key() {
        let text = "socket = \"/s\"\n\n[registry.hosts.\"docker.io\"]\nplain_http = \"yes\"\n";
        let err = Config::from_toml(text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "config file c.toml, line 4, key `registry.hosts.\"docker.io\".plain_http`: "
            ),
            "{err}"
        );
        assert!(err.contains("expected a boolean"), "{err}");
        let err = Config::from_toml("socket = \"/s\"\nroot = \n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config file c.toml, line 2: "), "{err}");
    }
}
