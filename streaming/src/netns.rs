//! Connecting to a TCP port inside another network namespace without `socat`
//! or `nsenter`: a short-lived OS thread joins the namespace (setns affects
//! only the calling thread), connects, and hands the socket back; the socket
//! stays in the namespace it was created in, so tokio can drive it from any
//! thread. The thread exits afterwards, so no runtime thread ever changes
//! namespace.

use crate::error::StreamError;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// How long a connect inside the namespace may take (loopback: instant, or
/// refused at once when nothing listens).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to `127.0.0.1:port` inside the network namespace at `netns` (a
/// `/proc/<pid>/ns/net` link or a bind-mounted pin).
pub async fn connect_in_netns(
    netns: &Path,
    port: u16,
) -> Result<tokio::net::TcpStream, StreamError> {
    let path = netns.to_path_buf();
    let err_path = path.clone();
    let fail = move |source: std::io::Error| StreamError::PortForward {
        netns: err_path.display().to_string(),
        port,
        source,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("cradle-netns-connect".into())
        .spawn(move || {
            let _ = tx.send(connect_blocking(&path, port));
        })
        .map_err(&fail)?;
    let std_stream = rx
        .await
        .map_err(|_| {
            fail(std::io::Error::other(
                "connect thread ended without an answer",
            ))
        })?
        .map_err(&fail)?;
    std_stream.set_nonblocking(true).map_err(&fail)?;
    tokio::net::TcpStream::from_std(std_stream).map_err(fail)
}

fn connect_blocking(netns: &Path, port: u16) -> std::io::Result<std::net::TcpStream> {
    let file = std::fs::File::open(netns)?;
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
}
