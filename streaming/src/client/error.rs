//! Why a client session fails.

/// Why a client session failed (the remote command's own failure is an
/// exit code, not an error).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not an http(s) or ws(s) URL with a host.
    #[error("invalid streaming URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TCP connection failed.
    #[error("connecting to the streaming server {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// An https URL without a CA to check the server's certificate with.
    #[error(
        "the streaming server speaks TLS ({url}); give the PEM certificate of the CA that signed its certificate (or the certificate itself)"
    )]
    TlsCaMissing {
        /// The URL.
        url: String,
    },
    /// The CA file or the TLS handshake failed.
    #[error("TLS to the streaming server: {0}")]
    Tls(String),
    /// The server refused the WebSocket upgrade (an unknown or used token
    /// answers 404).
    #[error("WebSocket upgrade: {0}")]
    Handshake(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// Writing the remote output locally failed.
    #[error("writing the remote output: {0}")]
    Output(#[source] std::io::Error),
    /// The session ended without reporting how the command ended.
    #[error("the streaming session ended without an exit status{0}")]
    NoStatus(String),
    /// The command could not run (the status is a failure without an exit
    /// code, e.g. no such executable).
    #[error("{0}")]
    Remote(String),
    /// The status message is not a `metav1.Status`.
    #[error("unreadable exit status {0:?}")]
    BadStatus(String),
}
