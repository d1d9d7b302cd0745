//! The cgroup library's error, apart from the [`super::Cgroup`] handle so
//! every part of the library can name it without importing its parent.

use std::path::PathBuf;

use cradle_cgroupfs::CGROUP_ROOT;

/// Errors of the cgroup library; each names the path it failed on.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// The cgroup path is not usable (relative, `..`, systemd slice syntax).
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// No cgroup v1 controller and no cgroup2 root were found.
    #[error("no cgroup hierarchy found under {CGROUP_ROOT}")]
    NoHierarchy,
    /// Reading, writing or creating a cgroup file or directory failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("write", "read", "mkdir", "rmdir").
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A cgroup file held something unexpected.
    #[error("unexpected content in {path}: {content:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it held.
        content: String,
    },
    /// A resource field the host's cgroups cannot apply (controller not
    /// mounted, interface file missing, or no cgroup equivalent).
    #[error("resources.{field} cannot be applied: {reason}")]
    Unsupported {
        /// The OCI field, e.g. `blockIO.weight`.
        field: String,
        /// Why.
        reason: String,
    },
    /// A `cgroupsPath` the systemd driver cannot turn into a scope unit.
    #[error("invalid systemd cgroupsPath {path:?}: {reason}")]
    InvalidSystemdPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// The systemd cgroup driver was asked for on a host without systemd.
    #[error(
        "systemd cgroup driver requested but systemd is not running (no {})",
        crate::cgroups::systemd::host::RUNNING_DIR
    )]
    SystemdNotRunning,
    /// systemd refused or failed an operation on the container's unit.
    #[error("systemd: {op} {unit}: {reason}")]
    Systemd {
        /// What was asked ("start", "set properties of", "stop").
        op: &'static str,
        /// The unit.
        unit: String,
        /// systemd's answer, or why there was none.
        reason: String,
    },
    /// The leaf still had processes (or children) after retrying rmdir.
    #[error("cgroup {path} is still busy after retries")]
    Busy {
        /// The directory.
        path: PathBuf,
    },
}

/// Hierarchy detection ([`cradle_cgroupfs`]) fails as the library always
/// did: no hierarchy, or the cgroup root unreadable.
impl From<cradle_cgroupfs::Error> for CgroupError {
    fn from(e: cradle_cgroupfs::Error) -> Self {
        match e {
            cradle_cgroupfs::Error::NoHierarchy => CgroupError::NoHierarchy,
            cradle_cgroupfs::Error::Read { path, source } => CgroupError::Io {
                op: "read",
                path,
                source,
            },
        }
    }
}
