//! The runtime's error type: every variant names the container or file.

use std::path::PathBuf;

use crate::cgroups::CgroupError;

/// Errors of `cradle-oci`'s verbs.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// No state directory for this id.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// `create` with an id that is already used.
    #[error("container {0} already exists")]
    AlreadyExists(String),
    /// The id is empty or contains characters that are unsafe in a path.
    #[error("invalid container id {0:?}")]
    InvalidId(String),
    /// The verb does not apply in the container's current status.
    #[error("container {id} is {status}: {what}")]
    WrongStatus {
        /// The container.
        id: String,
        /// Its current status.
        status: &'static str,
        /// What could not be done.
        what: &'static str,
    },
    /// `kill` of a container whose init is gone. runc's words: containerd's
    /// shim recognizes "container not running" and treats the kill as done.
    #[error("container not running: {0}")]
    NotRunning(String),
    /// The bundle's config.json is missing or invalid.
    #[error("bundle config {path}: {reason}")]
    Spec {
        /// The config.json.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A feature the spec asks for that this runtime does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A signal name or number that is not valid.
    #[error("invalid signal {0:?}")]
    InvalidSignal(String),
    /// A file operation failed.
    #[error("{context} {path}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// On which file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{context}: {errno}")]
    Sys {
        /// What was being done, with the object.
        context: String,
        /// The errno.
        #[source]
        errno: nix::Error,
    },
    /// The cgroup could not be set up or removed. The cgroup error is shown
    /// in the message and not chained as a source, so `{:#}` says it once.
    #[error("cgroup: {0}")]
    Cgroup(CgroupError),
    /// The container's init (or the intermediate process) reported a failure.
    #[error("container init failed: {0}")]
    Init(String),
    /// A step of the container process setup failed (reported through [`OciError::Init`]).
    #[error("{0}")]
    Setup(String),
    /// Reading or writing the state file failed.
    #[error("state of {id}: {reason}")]
    State {
        /// The container.
        id: String,
        /// What went wrong.
        reason: String,
    },
    /// Waited too long for something (processes to die, the init to answer).
    #[error("timed out: {0}")]
    Timeout(String),
}

impl From<CgroupError> for OciError {
    fn from(e: CgroupError) -> Self {
        OciError::Cgroup(e)
    }
}

impl OciError {
    /// A failed system call with its context.
    pub(crate) fn sys(context: impl Into<String>, errno: nix::Error) -> Self {
        OciError::Sys {
            context: context.into(),
            errno,
        }
    }

    /// A failed file operation.
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        OciError::Io {
            context,
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results of this module.
pub type Result<T> = std::result::Result<T, OciError>;
