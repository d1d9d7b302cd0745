//! The CRI socket: a Unix listener serving both CRI services until shutdown.

mod authority;
pub mod observe;

use crate::cri::CriService;
use cradle_proto::cri::image_service_server::ImageServiceServer;
use cradle_proto::cri::runtime_service_server::RuntimeServiceServer;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Errors of binding or serving the socket.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Preparing or binding the socket failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The step that failed (`creating`, `binding`, ...).
        op: &'static str,
        /// The socket or its directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The gRPC server stopped with an error.
    #[error("serving gRPC: {0}")]
    Serve(#[from] tonic::transport::Error),
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ServerError + use<> {
    let path = path.to_path_buf();
    move |source| ServerError::Io { op, path, source }
}

/// Binds `socket` (creating its directory, replacing a stale socket, mode 0660).
pub fn bind(socket: &Path) -> Result<tokio::net::UnixListener, ServerError> {
    if let Some(parent) = socket.parent() {
        std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
    }
    match std::fs::remove_file(socket) {
        Ok(()) => tracing::info!("removed stale socket {}", socket.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("removing stale socket", socket)(e)),
    }
    let listener = crate::platform::sockets::bind(socket).map_err(io("binding", socket))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660))
        .map_err(io("setting mode of", socket))?;
    Ok(listener)
}

/// How long in-flight requests and open streams (GetContainerEvents) may run
/// on after the shutdown signal before the server stops anyway.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves the CRI on `listener` until `shutdown` resolves (plus at most
/// [`SHUTDOWN_GRACE`] for open calls), then removes the socket.
pub async fn serve(
    service: CriService,
    listener: tokio::net::UnixListener,
    socket: &Path,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    // Python and Java gRPC clients send a socket path as :authority.
    let incoming = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::UnixListenerStream::new(listener),
        |conn| conn.map(authority::AuthorityFix::new),
    );
    let (stopping, mut stopped) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        let _ = stopping.send(true);
    };
    let server = tonic::transport::Server::builder()
        // Every log line of a request carries its RPC, and the ids and
        // names of its pod and container once the entry point knows them.
        .trace_fn(|request| crate::core::log_span::rpc(request.uri().path()))
        // Latency and status of each call; each error status logged once.
        .layer(observe::ObserveLayer)
        .add_service(RuntimeServiceServer::new(service.clone()))
        .add_service(ImageServiceServer::new(service))
        .serve_with_incoming_shutdown(incoming, signal);
    let grace = async move {
        if stopped.wait_for(|s| *s).await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        result = server => result.map_err(ServerError::from),
        () = grace => {
            tracing::warn!("calls still open {SHUTDOWN_GRACE:?} after shutdown: stopping anyway");
            Ok(())
        }
    };
    if let Err(e) = std::fs::remove_file(socket)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("removing socket {}: {e}", socket.display());
    }
    result
}
