//! What every remotecommand protocol (SPDY or WebSocket, any version) shares:
//! which streams a request needs, running the backend while watching the
//! client, and the outcome the error stream reports.

use crate::backend::{StreamIo, StreamingBackend};
use crate::request::{AttachRequest, ExecRequest};
use crate::status::Outcome;
use crate::tokens::Pending;
use std::future::Future;

/// Exec or attach, with the stream flags the token fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Exec(ExecRequest),
    Attach(AttachRequest),
}

/// The streams a command uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl Command {
    /// The command a redeemed exec/attach token stands for.
    pub fn from_pending(pending: Pending) -> Option<Self> {
        match pending {
            Pending::Exec(r) => Some(Command::Exec(r)),
            Pending::Attach(r) => Some(Command::Attach(r)),
            Pending::PortForward(_) => None,
        }
    }

    pub fn wanted(&self) -> Wanted {
        match self {
            Command::Exec(r) => Wanted {
                stdin: r.stdin,
                stdout: r.stdout,
                stderr: r.stderr && !r.tty,
                tty: r.tty,
            },
            Command::Attach(r) => Wanted {
                stdin: r.stdin,
                stdout: r.stdout,
                stderr: r.stderr && !r.tty,
                tty: r.tty,
            },
        }
    }
}

/// Runs `command` on `backend`; `None` if `client_gone` resolved first, in
/// which case the backend's future has been dropped (its cancellation).
pub async fn run<B: StreamingBackend>(
    backend: &B,
    command: Command,
    io: StreamIo,
    client_gone: impl Future<Output = ()>,
) -> Option<Outcome> {
    let work = async {
        match command {
            Command::Exec(req) => match backend.exec(req, io).await {
                Ok(code) => Outcome::Exited(code),
                Err(e) => Outcome::Failed(format!("error executing command in container: {e}")),
            },
            Command::Attach(req) => match backend.attach(req, io).await {
                Ok(()) => Outcome::Exited(0),
                Err(e) => Outcome::Failed(format!("error attaching to container: {e}")),
            },
        }
    };
    tokio::select! {
        outcome = work => Some(outcome),
        () = client_gone => None,
    }
}
