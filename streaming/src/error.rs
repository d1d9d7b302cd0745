//! The one error type of the streaming server and of its backends: what a
//! refused URL, a failed listener or a failed session reports.

/// Errors of the streaming server and of its backends.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The CRI request cannot be streamed (maps to gRPC InvalidArgument).
    #[error("invalid streaming request: {0}")]
    InvalidRequest(String),
    /// Binding or serving the listener.
    #[error("streaming server on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why binding it failed.
        source: std::io::Error,
    },
    /// The container, sandbox or port the request names does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Connecting to a port inside a network namespace.
    #[error("connecting to port {port} in network namespace {netns}: {source}")]
    PortForward {
        /// The namespace (its path, or `host`).
        netns: String,
        /// The port asked for.
        port: u16,
        /// Why the connection failed.
        source: std::io::Error,
    },
    /// Anything else a backend reports; the text reaches the client.
    #[error("{0}")]
    Backend(String),
    /// Moving bytes failed.
    #[error("stream i/o: {0}")]
    Io(#[from] std::io::Error),
}
