//! AppArmor on the node, as containerd and CRI-O use it: whether it is
//! enabled, Cradle's own RuntimeDefault profile ([`DEFAULT_PROFILE`], its
//! text in [`DEFAULT_PROFILE_TEXT`]) loaded with `apparmor_parser`, and
//! whether a profile a pod names is loaded.
//!
//! The managers ask through the [`AppArmorHost`] trait, a seam the
//! context holds, so the choice of a profile is tested against a fake node;
//! [`NodeAppArmor`] is the real one, one per daemon process ([`node`]), and
//! [`NoAppArmor`] a node without it (the tests over fakes, whatever the
//! machine). Applying the profile is the OCI
//! runtime's job (`process.apparmorProfile`, written to the init's
//! `attr/apparmor/exec` before execve); this module only makes sure the
//! profile exists in the kernel.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

/// The name of the profile RuntimeDefault means (containerd's is
/// `cri-containerd.apparmor.d`, CRI-O's `crio-default`).
pub const DEFAULT_PROFILE: &str = "cri-cradle-default";

/// The text of [`DEFAULT_PROFILE`], modelled on containerd's and Docker's
/// default template: everything a container normally does is allowed
/// (network, capabilities the runtime granted, files), and what would let
/// it reach past its namespaces is denied: writing kernel tunables under
/// /proc and /sys, the kernel's memory and sysrq, mounting, and signals or
/// ptrace to anything but its own kind. Self-contained (no `#include`), so
/// it loads where /etc/apparmor.d holds nothing; the signal and ptrace
/// rules need apparmor_parser 2.9.95 or later (Debian 9, Ubuntu 16.10).
pub const DEFAULT_PROFILE_TEXT: &str = r#"# Cradle's RuntimeDefault AppArmor profile (cradled loads it).
@{PROC}=/proc/

profile cri-cradle-default flags=(attach_disconnected,mediate_deleted) {
  # What any container may do; its capabilities are the runtime's choice.
  network,
  capability,
  file,
  umount,

  # The runtime and the node (unconfined) may signal the container;
  # containers under this profile may signal each other, nothing else.
  signal (receive) peer=unconfined,
  signal (send,receive) peer=cri-cradle-default,

  # No writes to files directly in /proc, nor below /proc except
  # /proc/<pid>/** and /proc/sys/kernel/shm* (the IPC namespace's own).
  deny @{PROC}/* w,
  deny @{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9/]*}/** w,
  deny @{PROC}/sys/[^k]** w,
  deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,
  deny @{PROC}/sysrq-trigger rwklx,
  deny @{PROC}/kcore rwklx,

  # No mounts, whatever the capabilities say.
  deny mount,

  # /sys is read-only but for cgroupfs; firmware, power capping (RAPL
  # energy counters) and securityfs (the LSMs' own control files) are
  # not even readable.
  deny /sys/[^f]*/** wklx,
  deny /sys/f[^s]*/** wklx,
  deny /sys/fs/[^c]*/** wklx,
  deny /sys/fs/c[^g]*/** wklx,
  deny /sys/fs/cg[^r]*/** wklx,
  deny /sys/firmware/** rwklx,
  deny /sys/devices/virtual/powercap/** rwklx,
  deny /sys/kernel/security/** rwklx,

  # Processes of the container may trace each other (where the other LSMs
  # and Yama allow it), nothing outside it.
  ptrace (trace,tracedby,read,readby) peer=cri-cradle-default,
}
"#;

/// The parser's name, looked up in PATH and then in the sbin directories
/// (a daemon started with a user's PATH may not have them).
const PARSER: &str = "apparmor_parser";
const SBIN_DIRS: [&str; 2] = ["/usr/sbin", "/sbin"];

/// What can go wrong with the node's AppArmor.
#[derive(Debug, thiserror::Error)]
pub enum AppArmorError {
    /// AppArmor is enabled but no parser can load Cradle's default profile.
    #[error(
        "AppArmor is enabled on this node but apparmor_parser is not in PATH nor in /usr/sbin \
         or /sbin: it is needed to load the {DEFAULT_PROFILE} profile (install the apparmor package)"
    )]
    ParserMissing,
    /// The parser could not be run.
    #[error("running {parser}")]
    Spawn {
        /// The parser's path.
        parser: PathBuf,
        /// Why it did not run.
        #[source]
        source: std::io::Error,
    },
    /// The parser refused the profile or the kernel refused to load it.
    #[error("{parser} {args} for profile {profile} failed ({status}): {stderr}")]
    ParserFailed {
        /// The parser's path.
        parser: PathBuf,
        /// Its arguments.
        args: String,
        /// The profile being loaded.
        profile: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The parser succeeded but the kernel does not list the profile.
    #[error("profile {0} is not in the kernel's list after apparmor_parser loaded it")]
    NotListed(String),
    /// A securityfs file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The node's AppArmor, as the choice of a container's profile sees it.
pub trait AppArmorHost: Send + Sync {
    /// Whether AppArmor is enabled (profiles can be applied).
    fn enabled(&self) -> bool;
    /// Whether a profile named `name` is loaded in the kernel.
    fn is_loaded(&self, name: &str) -> Result<bool, AppArmorError>;
    /// Loads [`DEFAULT_PROFILE`] (once per process; later calls return at
    /// once), so a container can run under it.
    fn ensure_default_loaded(&self) -> Result<(), AppArmorError>;
}

/// The real node: securityfs and `apparmor_parser`.
#[derive(Debug)]
pub struct NodeAppArmor {
    enabled: bool,
    /// `/sys/kernel/security/apparmor`.
    securityfs: PathBuf,
    /// The parser to run; `None`: looked up in PATH at first load.
    parser: Option<PathBuf>,
    /// Set once the default profile was loaded by this process.
    default_loaded: Mutex<bool>,
}

/// The node's AppArmor, detected on first use; one per daemon process (so
/// the default profile is loaded once, whoever asks).
pub fn node() -> Arc<NodeAppArmor> {
    static NODE: OnceLock<Arc<NodeAppArmor>> = OnceLock::new();
    Arc::clone(NODE.get_or_init(|| {
        let node = NodeAppArmor::detect(
            Path::new("/sys/module/apparmor/parameters/enabled"),
            Path::new("/sys/kernel/security/apparmor"),
        );
        tracing::info!(enabled = node.enabled, "AppArmor detected");
        Arc::new(node)
    }))
}

/// A node without AppArmor: no profile is loaded, none can be applied.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAppArmor;

impl AppArmorHost for NoAppArmor {
    fn enabled(&self) -> bool {
        false
    }

    fn is_loaded(&self, _name: &str) -> Result<bool, AppArmorError> {
        Ok(false)
    }

    fn ensure_default_loaded(&self) -> Result<(), AppArmorError> {
        Ok(())
    }
}

impl NodeAppArmor {
    /// AppArmor is enabled when the module says `Y` in `module_param` and
    /// its securityfs directory `securityfs` exists (as runc and
    /// containerd check).
    pub fn detect(module_param: &Path, securityfs: &Path) -> NodeAppArmor {
        let enabled = std::fs::read_to_string(module_param)
            .is_ok_and(|s| s.trim_start().starts_with('Y'))
            && securityfs.is_dir();
        NodeAppArmor {
            enabled,
            securityfs: securityfs.to_path_buf(),
            parser: None,
            default_loaded: Mutex::new(false),
        }
    }

    /// Loads profiles with `parser` rather than the `apparmor_parser` in PATH.
    pub fn with_parser(mut self, parser: PathBuf) -> NodeAppArmor {
        self.parser = Some(parser);
        self
    }

    fn profiles(&self) -> Result<String, AppArmorError> {
        let path = self.securityfs.join("profiles");
        std::fs::read_to_string(&path).map_err(|source| AppArmorError::Read { path, source })
    }
}

impl AppArmorHost for NodeAppArmor {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn is_loaded(&self, name: &str) -> Result<bool, AppArmorError> {
        Ok(profile_names(&self.profiles()?).any(|n| n == name))
    }

    fn ensure_default_loaded(&self) -> Result<(), AppArmorError> {
        // Held while loading: concurrent creates wait for the one load.
        let mut loaded = self
            .default_loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *loaded {
            return Ok(());
        }
        let parser = match &self.parser {
            Some(parser) => parser.clone(),
            None => find_parser(std::env::var_os("PATH").as_deref())
                .ok_or(AppArmorError::ParserMissing)?,
        };
        // -K: no cache (its directory may be read-only); -r: replace a
        // profile an older daemon loaded, so this daemon's text applies.
        load(&parser, &["-Kr"], DEFAULT_PROFILE, DEFAULT_PROFILE_TEXT)?;
        if !self.is_loaded(DEFAULT_PROFILE)? {
            return Err(AppArmorError::NotListed(DEFAULT_PROFILE.to_string()));
        }
        tracing::info!(profile = DEFAULT_PROFILE, "AppArmor profile loaded");
        *loaded = true;
        Ok(())
    }
}

/// The names in securityfs's `profiles` list, whose lines read
/// `<name> (<mode>)`.
pub fn profile_names(list: &str) -> impl Iterator<Item = &str> {
    list.lines().filter_map(|line| {
        let line = line.trim_end();
        match line.rsplit_once(" (") {
            Some((name, mode)) if mode.ends_with(')') => Some(name),
            _ => (!line.is_empty()).then_some(line),
        }
    })
}

/// `apparmor_parser` in the directories of `path` (a `PATH` value), then
/// in /usr/sbin and /sbin.
pub fn find_parser(path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let in_path = path
        .map(|p| std::env::split_paths(p).collect::<Vec<_>>())
        .unwrap_or_default();
    in_path
        .into_iter()
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(PARSER))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `parser args` with the profile `text` (named `profile`) on stdin.
pub fn load(parser: &Path, args: &[&str], profile: &str, text: &str) -> Result<(), AppArmorError> {
    let spawn_error = |source| AppArmorError::Spawn {
        parser: parser.to_path_buf(),
        source,
    };
    let mut child = Command::new(parser)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A parser that exits early closes its stdin; its status says why.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(spawn_error)?;
    if out.status.success() {
        return Ok(());
    }
    Err(AppArmorError::ParserFailed {
        parser: parser.to_path_buf(),
        args: args.join(" "),
        profile: profile.to_string(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

#[cfg(test)]
#[path = "apparmor_tests.rs"]
mod tests;
