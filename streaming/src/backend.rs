//! The seam between the streaming protocols and whoever runs processes: the
//! server turns any protocol into a [`StreamIo`] and calls a
//! [`StreamingBackend`]; the daemon implements it with the shim (exec, attach)
//! and [`crate::netns::connect_in_netns`] (port-forward); tests with a fake.

use crate::error::StreamError;
use crate::request::{AttachRequest, ExecRequest, TerminalSize};
use std::future::Future;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

/// A client's input stream as the backend sees it (EOF when the client closes stdin).
pub type BoxedReader = Box<dyn AsyncRead + Send + Unpin>;
/// An output stream towards the client; dropping or shutting it down ends it.
pub type BoxedWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// The client's streams. Each is present only if the request asked for it and
/// the client opened it; `resize` only with a tty.
#[derive(Default)]
pub struct StreamIo {
    /// What the client types.
    pub stdin: Option<BoxedReader>,
    /// The process's output (its terminal's, with a tty).
    pub stdout: Option<BoxedWriter>,
    /// The process's errors (never with a tty).
    pub stderr: Option<BoxedWriter>,
    /// Terminal sizes as the client's window changes (tty only).
    pub resize: Option<mpsc::Receiver<TerminalSize>>,
}

/// Runs what the streaming server's clients ask for.
///
/// Cancellation: when the client goes away the server DROPS the future of
/// `exec`/`attach`. An implementation must then kill and reap an exec'd process
/// (e.g. a guard whose `Drop` asks the shim to kill it), and must only detach
/// from the main process on `attach`.
pub trait StreamingBackend: Send + Sync + 'static {
    /// Runs `req.cmd` in the container and returns its exit code (128 + signal
    /// number when killed by a signal). Output writers must be dropped or shut
    /// down by the time it returns (returning drops `io`).
    fn exec(
        &self,
        req: ExecRequest,
        io: StreamIo,
    ) -> impl Future<Output = Result<i32, StreamError>> + Send;

    /// Connects `io` to the container's main process until it exits or the
    /// client leaves.
    fn attach(
        &self,
        req: AttachRequest,
        io: StreamIo,
    ) -> impl Future<Output = Result<(), StreamError>> + Send;

    /// Opens a connection to `port` on 127.0.0.1 inside the sandbox's network
    /// namespace (see [`crate::netns::connect_in_netns`]).
    fn port_forward(
        &self,
        sandbox_id: &str,
        port: u16,
    ) -> impl Future<Output = Result<tokio::net::TcpStream, StreamError>> + Send;
}
