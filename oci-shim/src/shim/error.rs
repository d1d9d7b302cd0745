//! The shim's error type: every variant names what was being done.

use std::io;

/// Errors of the shim's set-up and request handling.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        #[source]
        /// The cause.
        source: io::Error,
    },
    /// A system call made through `nix` failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        #[source]
        /// The cause.
        source: nix::Error,
    },
    /// The OCI runtime refused a command.
    #[error("{command} failed: {message}")]
    Runtime {
        /// The command line that failed.
        command: String,
        /// What the runtime said.
        message: String,
    },
    /// The OCI runtime refused to create the container: the request's
    /// fault (its process cannot run), not the node's.
    #[error("{runtime} create {id} failed: {message}")]
    CreateRefused {
        /// The runtime binary.
        runtime: String,
        /// The container id.
        id: String,
        /// What the runtime said.
        message: String,
    },
    /// A request that the current state does not allow.
    #[error("{0}")]
    Invalid(String),
}

impl ShimError {
    /// An `Io` error builder, for `map_err(ShimError::io("opening x"))`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> ShimError {
        let what = what.into();
        move |source| ShimError::Io { what, source }
    }

    /// A `Sys` error builder, for `map_err(ShimError::sys("setns"))`.
    pub fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> ShimError {
        let what = what.into();
        move |source| ShimError::Sys { what, source }
    }
}
