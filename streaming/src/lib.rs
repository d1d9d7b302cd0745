//! `cradle-streaming`: the streaming server behind the CRI `Exec`, `Attach`
//! and `PortForward` RPCs.
//!
//! Those RPCs only mint a URL ([`StreamingServer::get_exec_url`] and
//! friends); the client (crictl, or the kubelet proxying kubectl) then
//! connects to that URL and upgrades the HTTP/1.1 connection to SPDY/3.1 or
//! WebSocket, speaking Kubernetes' remotecommand protocol (exec and attach,
//! `channel.k8s.io` through `v5.channel.k8s.io`) or its portforward protocol
//! on top; a WebSocket may also tunnel SPDY port-forward
//! (`SPDY/3.1+portforward.k8s.io`). Each URL carries a one-time token that
//! decides what runs: query parameters the client adds are ignored.
//!
//! The server never runs processes itself: it moves bytes between the client
//! and a [`StreamingBackend`], the small trait its user implements (exec a
//! command, attach to a container's main process, open a connection to a
//! port in a pod). `cradled` (the `cradle-daemon` crate) is that user: its
//! backend execs through the OCI runtime, attaches through the container's
//! shim and connects into the pod's network namespace with
//! [`connect_in_netns`]. The listener is plain HTTP on loopback by default,
//! HTTPS when a certificate is configured ([`TlsFiles`]); a user's
//! configuration file may carry [`StreamingSettings`] (containerd's names).
//!
//! Wiring: at start-up `StreamingServer::start(config, backend)` on the
//! user's tokio runtime; the CRI handlers answer `Exec`/`Attach`/
//! `PortForward` with `get_exec_url`/`get_attach_url`/`get_portforward_url`
//! (after checking the container is running / the sandbox exists), mapping a
//! refused URL ([`StreamError`]) to a gRPC status.
//!
//! [`client`] is the other end, a WebSocket remotecommand client
//! (`cradlectl exec -i/-t` uses it).

mod backend;
pub mod client;
mod error;
/// Streaming parsers' checks for the fuzz targets and the corpus replay tests.
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
pub mod netns;
pub mod pty;
mod pump;
mod remotecommand;
mod request;
mod server;
mod settings;
mod spdy;
mod status;
pub mod timeouts;
mod tls;
mod tokens;
mod websocket;
mod ws_tunnel;

pub use backend::{BoxedReader, BoxedWriter, StreamIo, StreamingBackend};
pub use error::StreamError;
pub use netns::connect_in_netns;
pub use request::{AttachRequest, ExecRequest, PortForwardRequest, TerminalSize};
pub use server::{StreamingConfig, StreamingServer};
pub use settings::StreamingSettings;
pub use timeouts::SessionTimeouts;
pub use tls::TlsFiles;
