//! The seam between the streaming protocols and whoever runs processes: the
//! server turns any protocol into a [`StreamIo`] and calls a
//! [`StreamingBackend`]; the daemon implements it with the shim (exec, attach)
//! and [`super::connect_in_netns`] (port-forward); tests with a fake.

use super::StreamError;
use std::future::Future;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

/// A client's input stream as the backend sees it (EOF when the client closes stdin).
pub type BoxedReader = Box<dyn AsyncRead + Send + Unpin>;
/// An output stream towards the client; dropping or shutting it down ends it.
pub type BoxedWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// What to exec, as the token's CRI request said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    pub container_id: String,
    pub cmd: Vec<String>,
    pub tty: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// What to attach to, as the token's CRI request said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachRequest {
    pub container_id: String,
    pub tty: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// A terminal size sent by the client (resize stream or channel 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct TerminalSize {
    #[serde(rename = "Width")]
    pub width: u16,
    #[serde(rename = "Height")]
    pub height: u16,
}

/// The client's streams. Each is present only if the request asked for it and
/// the client opened it; `resize` only with a tty.
#[derive(Default)]
pub struct StreamIo {
    pub stdin: Option<BoxedReader>,
    pub stdout: Option<BoxedWriter>,
    pub stderr: Option<BoxedWriter>,
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
    /// namespace (see [`super::connect_in_netns`]).
    fn port_forward(
        &self,
        sandbox_id: &str,
        port: u16,
    ) -> impl Future<Output = Result<tokio::net::TcpStream, StreamError>> + Send;
}
