//! The streaming server behind the CRI `Exec`, `Attach` and `PortForward` RPCs.
//!
//! Those RPCs only mint a URL ([`StreamingServer::get_exec_url`] and friends);
//! the client (crictl, or the kubelet proxying kubectl) then connects to that
//! URL and upgrades the HTTP/1.1 connection to SPDY/3.1 ([`spdy`]) or WebSocket
//! ([`websocket`]), speaking Kubernetes' remotecommand or portforward protocol
//! on top; a WebSocket may also tunnel SPDY port-forward ([`ws_tunnel`]).
//! Each URL carries a one-time token ([`tokens`]) that decides what runs:
//! query parameters the client adds are ignored.
//!
//! This module never runs processes or touches namespaces of containers
//! itself: it moves bytes between the client and a [`StreamingBackend`] that
//! the daemon provides (exec and attach through the container's shim,
//! port-forward through [`netns::connect_in_netns`]). The listener is plain
//! HTTP on loopback by default, HTTPS when a certificate is configured
//! ([`tls`]).
//!
//! Wiring (daemon side): at start-up `StreamingServer::start(config, backend)`
//! on the daemon's runtime; the CRI handlers answer `Exec`/`Attach`/
//! `PortForward` with `get_exec_url`/`get_attach_url`/`get_portforward_url`
//! (after checking the container is running / the sandbox exists), mapping
//! [`StreamError`] to a gRPC status with `tonic::Status::from`.

pub mod backend;
pub mod handshake;
pub mod netns;
pub mod pty;
pub mod pump;
pub mod remotecommand;
pub mod runtime_attach;
pub mod runtime_backend;
pub mod runtime_exec;
pub mod server;
pub mod settings;
pub mod spdy;
pub mod status;
pub mod timeouts;
pub mod tls;
pub mod tokens;
pub mod websocket;
pub mod ws_tunnel;

pub use backend::{
    AttachRequest, BoxedReader, BoxedWriter, ExecRequest, StreamIo, StreamingBackend, TerminalSize,
};
pub use netns::connect_in_netns;
pub use runtime_backend::RuntimeBackend;
pub use server::{StreamingConfig, StreamingServer};
pub use settings::StreamingSettings;
pub use timeouts::SessionTimeouts;
pub use tls::TlsFiles;

/// Errors of the streaming server and of its backends.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The CRI request cannot be streamed (maps to gRPC InvalidArgument).
    #[error("invalid streaming request: {0}")]
    InvalidRequest(String),
    /// Binding or serving the listener.
    #[error("streaming server on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// The container, sandbox or port the request names does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Connecting to a port inside a network namespace.
    #[error("connecting to port {port} in network namespace {netns}: {source}")]
    PortForward {
        netns: String,
        port: u16,
        source: std::io::Error,
    },
    /// Anything else a backend reports; the text reaches the client.
    #[error("{0}")]
    Backend(String),
    /// Moving bytes failed.
    #[error("stream i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<StreamError> for tonic::Status {
    /// How the CRI `Exec`/`Attach`/`PortForward` handlers report a refused URL.
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::InvalidRequest(_) => tonic::Status::invalid_argument(e.to_string()),
            StreamError::NotFound(_) => tonic::Status::not_found(e.to_string()),
            _ => tonic::Status::internal(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_errors_map_to_grpc_codes() {
        let s: tonic::Status = StreamError::InvalidRequest("tty and stderr".into()).into();
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        let s: tonic::Status = StreamError::NotFound("container c1".into()).into();
        assert_eq!(s.code(), tonic::Code::NotFound);
    }
}
