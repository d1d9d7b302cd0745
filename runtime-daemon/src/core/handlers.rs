//! RuntimeClass handlers: the OCI runtimes a pod can be run with, from the
//! `[runtime_handlers.<name>]` tables of the configuration (or, when it
//! names none, `cradle-oci` plus `runc` and `crun` where installed), each
//! resolved once at start to its binary, its state root and the global
//! flags every invocation of it carries.
//!
//! `""` (the kubelet's default RuntimeClass) maps to
//! `default_runtime_handler`. The node-wide `cgroup_driver` decides the
//! form of cgroup paths, so a handler's `systemd_cgroup` follows it and may
//! not contradict it.

use crate::platform::cgroup_host::CgroupHost;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The handler `""` maps to unless `default_runtime_handler` says otherwise.
pub const DEFAULT_HANDLER: &str = "cradle-oci";

/// The cgroup parent of pods whose config names none, under the cgroupfs
/// driver; under systemd, left at this, it stands for `system.slice`.
pub const DEFAULT_CGROUP_PARENT: &str = "/cradle";

/// Built-in handlers besides `cradle-oci`, present when found in PATH.
const BUILT_IN_RUNTIMES: [&str; 2] = ["runc", "crun"];

/// The prefix of a container's scope under the systemd cgroup driver
/// (`<slice>:cri-cradle:<id>` becomes `cri-cradle-<id>.scope`).
pub const SYSTEMD_SCOPE_PREFIX: &str = "cri-cradle";

/// How cgroups are managed on the node, as the kubelet's `cgroupDriver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupDriver {
    /// The runtimes write cgroupfs directly; cgroup parents are paths.
    #[default]
    Cgroupfs,
    /// systemd owns the tree: cgroup parents are slice names and each
    /// container gets a transient scope.
    Systemd,
}

/// One `[runtime_handlers.<name>]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandlerConfig {
    /// The OCI runtime binary: a path, or a name looked up in PATH at
    /// start. Absent: Cradle's launcher for `cradle-oci`, else the
    /// handler's own name in PATH.
    pub runtime: Option<PathBuf>,
    /// The runtime's state root (`--root`). Absent:
    /// `<state_dir>/runtime/<name>`.
    pub root: Option<PathBuf>,
    /// Pass `--systemd-cgroup` and give containers systemd cgroup paths.
    /// Absent: as `cgroup_driver` says; present, it must agree with it.
    pub systemd_cgroup: Option<bool>,
    /// More global flags, put before the verb of every invocation.
    pub extra_args: Vec<String>,
}

/// A handler resolved at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handler {
    /// Its name, as RuntimeClass handlers name it.
    pub name: String,
    /// The runtime binary, an absolute path.
    pub binary: PathBuf,
    /// The runtime's `--root`.
    pub root: PathBuf,
    /// `--systemd-cgroup` is passed and cgroup paths are `slice:prefix:name`.
    pub systemd_cgroup: bool,
    /// Extra global flags.
    pub extra_args: Vec<String>,
}

impl Handler {
    /// The global flags after `--root`: `--systemd-cgroup` when set, then
    /// the extra ones.
    pub fn global_args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        if self.systemd_cgroup {
            args.push(OsString::from("--systemd-cgroup"));
        }
        args.extend(self.extra_args.iter().map(OsString::from));
        args
    }

    /// `<binary> --root <root> [global flags]`, ready for a verb.
    pub fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .arg("--root")
            .arg(&self.root)
            .args(self.global_args());
        command
    }
}

/// Why the handlers of a configuration cannot be used on this host; each
/// names the configuration key.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A name that is no RFC 1123 label.
    #[error(
        "runtime_handlers.{0:?}: a handler name must be a lowercase RFC 1123 label \
         (a-z, 0-9 and '-', starting and ending with a letter or digit, at most 63 characters)"
    )]
    BadName(String),
    /// The default names no configured handler.
    #[error("default_runtime_handler {name:?} is not a configured handler (configured: {known})")]
    UnknownDefault {
        /// The configured default.
        name: String,
        /// The configured handlers.
        known: String,
    },
    /// The runtime binary is not there.
    #[error("runtime_handlers.{name}.runtime: {runtime:?} is not an executable file or in PATH")]
    MissingBinary {
        /// The handler.
        name: String,
        /// What was configured.
        runtime: PathBuf,
    },
    /// A handler's `systemd_cgroup` contradicts the node's driver.
    #[error(
        "runtime_handlers.{name}.systemd_cgroup = {value} contradicts cgroup_driver = {driver:?}: \
         the kubelet sends cgroup parents in the driver's form"
    )]
    DriverMismatch {
        /// The handler.
        name: String,
        /// Its `systemd_cgroup`.
        value: bool,
        /// The node's driver.
        driver: CgroupDriver,
    },
    /// The systemd driver on a host where systemd does not run.
    #[error(
        "cgroup_driver = \"systemd\" but systemd is not running on this host \
         (no /run/systemd/system); use cgroup_driver = \"cgroupfs\""
    )]
    NoSystemd,
    /// The default cgroup parent is no slice under the systemd driver
    /// (the built-in default stands for `system.slice` there).
    #[error(
        "default_cgroup_parent {0:?} is not a systemd slice name (such as \"system.slice\"), \
         which cgroup_driver = \"systemd\" needs"
    )]
    ParentNotSlice(String),
}

/// What [`Handlers::resolve`] needs of the configuration.
#[derive(Debug, Clone, Copy)]
pub struct HandlerSettings<'a> {
    /// `[runtime_handlers]`; empty: the built-ins.
    pub configured: &'a BTreeMap<String, HandlerConfig>,
    /// `default_runtime_handler`.
    pub default: &'a str,
    /// `cgroup_driver`.
    pub driver: CgroupDriver,
    /// `default_cgroup_parent`.
    pub default_cgroup_parent: &'a str,
    /// `state_dir`, under which default roots live.
    pub state_dir: &'a Path,
    /// Cradle's launcher (`cradle-oci`).
    pub launcher: &'a Path,
}

/// The handlers the daemon runs pods with.
#[derive(Debug, Clone)]
pub struct Handlers {
    default: String,
    by_name: BTreeMap<String, Arc<Handler>>,
    driver: CgroupDriver,
    host: CgroupHost,
}

impl Handlers {
    /// Resolves the configured (or built-in) handlers on `host`, looking
    /// binaries given by name up with `find` (PATH, in the daemon).
    pub fn resolve(
        settings: HandlerSettings<'_>,
        host: CgroupHost,
        find: &dyn Fn(&str) -> Option<PathBuf>,
    ) -> Result<Handlers, HandlerError> {
        if settings.driver == CgroupDriver::Systemd {
            if !host.systemd {
                return Err(HandlerError::NoSystemd);
            }
            let parent = settings.default_cgroup_parent;
            if !is_slice_name(parent) && parent != DEFAULT_CGROUP_PARENT {
                return Err(HandlerError::ParentNotSlice(
                    settings.default_cgroup_parent.to_string(),
                ));
            }
        }
        let built_ins;
        let configured = if settings.configured.is_empty() {
            built_ins = built_in_handlers(find);
            &built_ins
        } else {
            settings.configured
        };
        let mut by_name = BTreeMap::new();
        for (name, handler) in configured {
            let resolved = resolve_one(name, handler, &settings, find)?;
            by_name.insert(name.clone(), Arc::new(resolved));
        }
        if !by_name.contains_key(settings.default) {
            return Err(HandlerError::UnknownDefault {
                name: settings.default.to_string(),
                known: quoted(by_name.keys()),
            });
        }
        Ok(Handlers {
            default: settings.default.to_string(),
            by_name,
            driver: settings.driver,
            host,
        })
    }

    /// The handler `name` stands for (`""`: the default), or `None`.
    pub fn get(&self, name: &str) -> Option<&Arc<Handler>> {
        let name = if name.is_empty() { &self.default } else { name };
        self.by_name.get(name)
    }

    /// The handler names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Every handler, by name.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Handler>> {
        self.by_name.values()
    }

    /// The handler `""` maps to.
    pub fn default_name(&self) -> &str {
        &self.default
    }

    /// The node's cgroup driver.
    pub fn driver(&self) -> CgroupDriver {
        self.driver
    }

    /// What was detected of the host's cgroups at start.
    pub fn host(&self) -> CgroupHost {
        self.host
    }

    /// The configured names, quoted, for messages refusing another.
    pub fn known(&self) -> String {
        format!(
            "\"\" (= {:?}), {}",
            self.default,
            quoted(self.by_name.keys())
        )
    }
}

/// A kubelet systemd-driver cgroup parent: one slice name, no path.
pub fn is_slice_name(parent: &str) -> bool {
    parent.len() > ".slice".len()
        && parent.ends_with(".slice")
        && !parent.contains('/')
        && !parent.contains(':')
}

/// The cgroupsPath of object `id` under `parent` with `driver`:
/// `<parent>/<id>`, or `<slice>:cri-cradle:<id>` under systemd, where a
/// parent that is no slice name is refused in words naming the field.
pub fn cgroups_path(driver: CgroupDriver, parent: &str, id: &str) -> Result<String, String> {
    match driver {
        CgroupDriver::Cgroupfs => Ok(format!("{parent}/{id}")),
        CgroupDriver::Systemd if is_slice_name(parent) => Ok(systemd_cgroups_path(parent, id)),
        CgroupDriver::Systemd => Err(format!(
            "config.linux.cgroup_parent {parent:?} is not a systemd slice name \
             (such as \"kubepods-burstable-pod<uid>.slice\"), which cgroup_driver = \"systemd\" needs"
        )),
    }
}

/// The container's (or pause's) cgroupsPath in systemd form:
/// `<slice>:cri-cradle:<id>`.
pub fn systemd_cgroups_path(slice: &str, id: &str) -> String {
    format!("{slice}:{SYSTEMD_SCOPE_PREFIX}:{id}")
}

/// Whether `name` is an RFC 1123 label, as RuntimeClass handler names are.
pub fn is_rfc1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| edge(b) || *b == b'-')
}

/// `cradle-oci`, plus `runc` and `crun` where `find` finds them.
fn built_in_handlers(find: &dyn Fn(&str) -> Option<PathBuf>) -> BTreeMap<String, HandlerConfig> {
    let mut handlers = BTreeMap::new();
    handlers.insert(DEFAULT_HANDLER.to_string(), HandlerConfig::default());
    for name in BUILT_IN_RUNTIMES {
        if let Some(binary) = find(name) {
            let config = HandlerConfig {
                runtime: Some(binary),
                ..HandlerConfig::default()
            };
            handlers.insert(name.to_string(), config);
        }
    }
    handlers
}

fn resolve_one(
    name: &str,
    config: &HandlerConfig,
    settings: &HandlerSettings<'_>,
    find: &dyn Fn(&str) -> Option<PathBuf>,
) -> Result<Handler, HandlerError> {
    if !is_rfc1123_label(name) {
        return Err(HandlerError::BadName(name.to_string()));
    }
    let systemd_driver = settings.driver == CgroupDriver::Systemd;
    if let Some(value) = config.systemd_cgroup
        && value != systemd_driver
    {
        return Err(HandlerError::DriverMismatch {
            name: name.to_string(),
            value,
            driver: settings.driver,
        });
    }
    let binary = match &config.runtime {
        None if name == DEFAULT_HANDLER => settings.launcher.to_path_buf(),
        None => find(name).ok_or_else(|| HandlerError::MissingBinary {
            name: name.to_string(),
            runtime: PathBuf::from(name),
        })?,
        Some(path) if path.components().count() > 1 || path.is_absolute() => path.clone(),
        Some(bare) => find(&bare.to_string_lossy()).ok_or_else(|| HandlerError::MissingBinary {
            name: name.to_string(),
            runtime: bare.clone(),
        })?,
    };
    Ok(Handler {
        name: name.to_string(),
        binary,
        root: config
            .root
            .clone()
            .unwrap_or_else(|| settings.state_dir.join("runtime").join(name)),
        systemd_cgroup: systemd_driver,
        extra_args: config.extra_args.clone(),
    })
}

/// An executable file named `name` in `PATH`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn quoted<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "handlers_tests.rs"]
mod tests;
