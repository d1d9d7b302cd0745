//! Why the daemon's side of the shim protocol failed, typed, so the cause
//! (an I/O error, a decode error, the shim's own words) reaches the
//! kubelet's status whole. The shim client and the [`super::shims`] seam
//! answer in it; the core wraps it with the id of the object the shim
//! serves (`core::error::Error::shim`), so the platform needs nothing of
//! the core's.

use cradle_proto::shim::{DecodeError, Request, Response};
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// What a shim call answers: its result, or why the shim failed.
pub type Result<T, E = ShimError> = std::result::Result<T, E>;

/// One failure of starting or talking to a shim.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// The shim binary could not be run.
    #[error("running {}", binary.display())]
    Spawn {
        /// The `cradle-shim` binary.
        binary: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file that captures the spawning process's stderr could not be
    /// created in the shim's state dir.
    #[error("creating {}", path.display())]
    ErrFile {
        /// The file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The OCI runtime refused to create the container's process (the
    /// shim said so with its exit status), in the runtime's own words from
    /// the shim's stderr. The container manager branches on it: the
    /// container exists and fails at Start.
    #[error("OCI runtime create failed: {0}")]
    CreateRefused(String),
    /// Waiting for the spawning process failed.
    #[error("waiting for shim start")]
    WaitStart(#[source] std::io::Error),
    /// The spawning process did not report readiness in time (it was killed).
    #[error("shim did not start within {0:?}")]
    StartTimeout(Duration),
    /// The spawning process failed, with its stderr.
    #[error("shim start failed ({status}): {reason}")]
    StartFailed {
        /// Its exit status.
        status: ExitStatus,
        /// Its stderr (or "no error output").
        reason: String,
    },
    /// The shim said it was ready but its socket does not answer.
    #[error("shim exited 0 but does not answer on its socket")]
    Unanswered(#[source] Box<ShimError>),
    /// The shim's socket refused the connection.
    #[error("connecting to {}", socket.display())]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the request failed.
    #[error("sending {request:?}")]
    Send {
        /// The request.
        request: Request,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Reading the answer failed.
    #[error("reading answer to {request:?}")]
    Read {
        /// The request.
        request: Request,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The shim hung up without answering.
    #[error("shim closed the connection on {0:?}")]
    Closed(Request),
    /// The answer is not a protocol line.
    #[error("bad answer to {request:?}")]
    BadAnswer {
        /// The request.
        request: Request,
        /// The decoder's error.
        #[source]
        source: DecodeError,
    },
    /// No answer within the request's bound.
    #[error("{request:?} timed out after {limit:?}")]
    TimedOut {
        /// The request.
        request: Request,
        /// The bound.
        limit: Duration,
    },
    /// The shim answered with an error, in its own words.
    #[error("{0}")]
    Refused(String),
    /// The shim answered something the request does not expect.
    #[error("unexpected answer {0:?}")]
    Unexpected(Box<Response>),
}
