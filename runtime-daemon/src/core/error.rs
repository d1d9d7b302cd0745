//! The managers' error type and its mapping to gRPC status codes.
//!
//! The managers speak in [`Error`]; only the CRI boundary turns it into a
//! [`tonic::Status`], so the kubelet sees `NotFound`, `InvalidArgument`,
//! `AlreadyExists` where it branches on them.
//!
//! A variant that wraps a failure keeps it typed, as its `#[source]`, and
//! says only what was being done ("pod network of sandbox X"); the cause
//! is not repeated in its text. The boundary and the logs print the whole
//! chain with [`Chain`] (`outer: cause: root cause`), so the kubelet reads
//! every step and the code can still branch on the typed cause.

use crate::core::ids::ShimId;
use crate::platform::cni::NetworkError;
use crate::platform::namespaces::NsError;
use crate::platform::shim_error::ShimError;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything the pod and container managers can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request the daemon refuses, in words naming the field.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// No object of this kind has this id.
    #[error("{kind} {id:?} not found")]
    NotFound {
        /// "container" or "sandbox".
        kind: &'static str,
        /// The id (or prefix) asked for.
        id: String,
    },
    /// An id prefix that matches more than one object.
    #[error("{kind} id prefix {prefix:?} is ambiguous")]
    AmbiguousId {
        /// "container" or "sandbox".
        kind: &'static str,
        /// The prefix asked for.
        prefix: String,
    },
    /// A name another object holds.
    #[error("{kind} name {name:?} is already reserved by {owner}")]
    AlreadyExists {
        /// "container" or "sandbox".
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The id of the object holding it.
        owner: String,
    },
    /// The object is in a state where the request cannot apply.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The request ran out of its time.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// No image of this reference is stored.
    #[error("image {0:?} not found")]
    ImageNotFound(String),
    /// The image store failed; its error decides the gRPC code.
    #[error("image store")]
    Image(#[from] cradle_snapshotter::Error),
    /// The image store did not open at start; image RPCs answer `Unavailable`.
    #[error("image store is unavailable")]
    ImagesUnavailable(#[source] Arc<cradle_snapshotter::Error>),
    /// The configured runtime handlers cannot be used on this host.
    #[error("runtime handlers")]
    Handlers(#[from] crate::core::handlers::HandlerError),
    /// The container's OCI spec could not be built.
    #[error("building the OCI spec")]
    Spec(#[from] SpecError),
    /// Talking to (or starting) the shim of an object failed.
    #[error("shim {id}")]
    Shim {
        /// The container or sandbox the shim serves.
        id: String,
        /// What went wrong with the shim.
        #[source]
        source: ShimError,
    },
    /// The OCI runtime refused to create the container's process (the shim
    /// said so with its exit status): the container fails at Start as
    /// `ContainerCannotRun`.
    #[error("OCI runtime create failed: {message}")]
    CreateRefused {
        /// The container.
        id: String,
        /// The runtime's own words, from the shim's stderr.
        message: String,
    },
    /// StartContainer of a container whose create the runtime refused
    /// (recorded at create, told again at start).
    #[error("shim {id}: cannot start the container: {why}")]
    CannotStart {
        /// The container.
        id: String,
        /// The refusal recorded at create.
        why: String,
    },
    /// The shim of a container is gone and its processes outlive SIGKILL.
    #[error(
        "shim {id}: the shim is gone and processes {left:?} of cgroup {cgroup} survive SIGKILL for {waited:?}"
    )]
    Unkillable {
        /// The container.
        id: String,
        /// The pids still there.
        left: Vec<i32>,
        /// The container's cgroup path.
        cgroup: String,
        /// How long they were given to die.
        waited: Duration,
    },
    /// A direct call of the OCI runtime (no shim) to delete a container failed.
    #[error("deleting container {id} from the OCI runtime")]
    RuntimeDelete {
        /// The container.
        id: String,
        /// Why the runtime did not delete it.
        #[source]
        source: RuntimeCmdError,
    },
    /// New resource limits of a container were not applied; the runtime's
    /// answer decides the gRPC code.
    #[error("resources of container {id}")]
    ResourceUpdate {
        /// The container.
        id: String,
        /// Why the runtime did not apply them.
        #[source]
        source: RuntimeCmdError,
    },
    /// CNI or the pod's network sysctls failed.
    #[error("pod network of sandbox {id}")]
    Network {
        /// The sandbox.
        id: String,
        /// What CNI (or the sysctl writer) said.
        #[source]
        source: NetworkError,
    },
    /// Pinning or unpinning the pod's namespaces failed.
    #[error("namespaces of sandbox {id}")]
    Namespaces {
        /// The sandbox.
        id: String,
        /// The system call or file that failed.
        #[source]
        source: NsError,
    },
    /// The metadata store failed.
    #[error("metadata store")]
    Store(#[from] crate::core::store::StoreError),
    /// A file system call failed at a path.
    #[error("I/O error at {}", path.display())]
    Io {
        /// Where.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Running (or waiting for) a helper process failed.
    #[error("{what}")]
    Process {
        /// What was being run, with the binary.
        what: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Encoding a document for the runtime failed.
    #[error("serializing {what}")]
    Encode {
        /// Which document.
        what: String,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// A blocking task the operation waited for panicked or was cancelled.
    #[error("{what} task")]
    Task {
        /// Which task ("network", "rootfs", ...).
        what: &'static str,
        /// How it ended.
        #[source]
        source: tokio::task::JoinError,
    },
    /// A failure of a manager's own helper with no variant of its own.
    #[error("{context}")]
    Other {
        /// What was being done.
        context: String,
        /// The helper's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// An I/O error naming the path it happened at.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A shim failure naming the object the shim serves. The runtime's
    /// refusal to create a container's process becomes
    /// [`Error::CreateRefused`], which the container manager branches on.
    pub fn shim(id: &ShimId, source: ShimError) -> Self {
        match source {
            ShimError::CreateRefused(message) => Error::CreateRefused {
                id: id.to_string(),
                message,
            },
            source => Error::Shim {
                id: id.to_string(),
                source,
            },
        }
    }

    /// [`Error::shim`] for `map_err`: wraps the failures of the shim of `id`.
    pub fn of_shim(id: &ShimId) -> impl Fn(ShimError) -> Self + '_ {
        move |source| Error::shim(id, source)
    }

    /// A blocking task that did not finish (`what`: "network", "rootfs", ...).
    pub fn task(what: &'static str, source: tokio::task::JoinError) -> Self {
        Error::Task { what, source }
    }

    /// This error with all its causes, for statuses and logs.
    pub fn chain(&self) -> Chain<'_> {
        Chain(self)
    }
}

/// An error with its whole cause chain, `outer: cause: root cause`: what
/// the kubelet and the logs read. A cause whose text its outer error
/// already ends with (an error that prints its source itself, as many
/// libraries' do) is not repeated.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let said = error.to_string();
            if !said.is_empty() && !text.ends_with(&said) {
                text.push_str(": ");
                text.push_str(&said);
            }
            cause = error.source();
        }
        f.write_str(&text)
    }
}

/// Why a direct call of the OCI runtime (`<runtime> update`, `delete
/// --force`) failed (kept here, beside the [`Error`] that wraps it, so the
/// core needs no manager).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeCmdError {
    /// The runtime could not be run or fed (the node's fault, not the request's).
    #[error("{what}")]
    Run {
        /// What was being done, with the binary.
        what: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// It ran past its time and was killed.
    #[error("{0}")]
    TimedOut(String),
    /// It refused, in its own words (e.g. a memory limit below the current
    /// usage, a cpuset outside the node's).
    #[error("{0}")]
    Refused(String),
}

/// Why the container manager's spec builder could not build an OCI spec
/// (kept here, beside the [`Error`] that wraps it, so the core needs no
/// manager).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Neither the config nor the image says what to run.
    #[error("container has no command: neither config.command/args nor the image's entrypoint/cmd")]
    NoCommand,
    /// A rule the builder cannot honour, in words.
    #[error("{0}")]
    Build(String),
    /// An OCI spec builder refused a value.
    #[error("{what}")]
    Oci {
        /// Which part of the spec ("root", "mount /data", ...).
        what: String,
        /// The builder's error.
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// The built-in RuntimeDefault seccomp profile could not be encoded.
    #[error("RuntimeDefault seccomp profile")]
    Seccomp(#[source] serde_json::Error),
    /// A pod sysctl no container of the pod can apply.
    #[error(transparent)]
    Sysctl(#[from] crate::platform::sysctls::SysctlError),
    /// The CDI devices' edits could not be applied to the spec.
    #[error("applying CDI edits")]
    Cdi(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl SpecError {
    /// A rule the builder cannot honour, in words.
    pub(crate) fn build(message: impl Into<String>) -> Self {
        SpecError::Build(message.into())
    }

    /// A builder's refusal of the part of the spec named `what`.
    pub(crate) fn oci(what: impl Into<String>, source: oci_spec::OciSpecError) -> Self {
        SpecError::Oci {
            what: what.into(),
            source,
        }
    }
}

/// Shorthand for the managers' results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        let message = err.chain().to_string();
        match err {
            Error::InvalidArgument(_) | Error::AmbiguousId { .. } => {
                tonic::Status::invalid_argument(message)
            }
            Error::NotFound { .. } | Error::ImageNotFound(_) => tonic::Status::not_found(message),
            Error::AlreadyExists { .. } => tonic::Status::already_exists(message),
            Error::FailedPrecondition(_) => tonic::Status::failed_precondition(message),
            Error::DeadlineExceeded(_) => tonic::Status::deadline_exceeded(message),
            Error::ImagesUnavailable(_) => tonic::Status::unavailable(message),
            Error::ResourceUpdate { source, .. } => match source {
                RuntimeCmdError::Refused(_) => tonic::Status::invalid_argument(message),
                RuntimeCmdError::TimedOut(_) => tonic::Status::deadline_exceeded(message),
                RuntimeCmdError::Run { .. } => tonic::Status::internal(message),
            },
            Error::Image(
                cradle_snapshotter::Error::NotFound(_)
                | cradle_snapshotter::Error::NoWritableLayer(_),
            ) => tonic::Status::not_found(message),
            Error::Image(
                cradle_snapshotter::Error::InvalidReference { .. }
                | cradle_snapshotter::Error::BadCredentials(_)
                | cradle_snapshotter::Error::BadArchive { .. },
            ) => tonic::Status::invalid_argument(message),
            Error::Image(cradle_snapshotter::Error::Unauthorized { .. }) => {
                tonic::Status::permission_denied(message)
            }
            Error::Image(cradle_snapshotter::Error::Stalled { .. }) => {
                tonic::Status::deadline_exceeded(message)
            }
            Error::Image(cradle_snapshotter::Error::Download { .. }) => {
                tonic::Status::unavailable(message)
            }
            Error::Image(
                cradle_snapshotter::Error::ImageInUse { .. }
                | cradle_snapshotter::Error::TooManyLayers { .. },
            ) => tonic::Status::failed_precondition(message),
            Error::Image(cradle_snapshotter::Error::Unimplemented(_)) => {
                tonic::Status::unimplemented(message)
            }
            Error::Spec(SpecError::NoCommand) => tonic::Status::invalid_argument(message),
            _ => tonic::Status::internal(message),
        }
    }
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
