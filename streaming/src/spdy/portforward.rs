//! Kubernetes portforward over SPDY (`portforward.k8s.io`): each forwarded
//! connection is a pair of client streams, `streamType` error and data, that
//! share a `requestID` and name the `port`. Pairs are served concurrently;
//! each direction closes on its own (half-close), and a failure is written as
//! text on the pair's error stream. A pair whose second stream does not come
//! within the stream creation timeout is dropped, with the reason on its
//! error stream when that one came.

use super::conn::{Connection, IncomingStream, StreamReader, StreamWriter};
use super::headers;
use crate::backend::StreamingBackend;
use crate::error::StreamError;
use crate::pump::CHUNK;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long the client's direction may go on once the port has closed its.
const UPLOAD_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// The only portforward protocol version.
pub const PROTOCOL: &str = "portforward.k8s.io";

struct Pair {
    port: Option<String>,
    error: Option<StreamWriter>,
    data: Option<(StreamReader, StreamWriter)>,
    /// When the pair's second stream is due.
    deadline: Instant,
}

/// Where a port-forward session connects, and how long the client has to
/// complete each stream pair.
pub struct Target {
    pub sandbox_id: String,
    /// Ports the CRI request listed (empty: any).
    pub allowed: Vec<u16>,
    pub creation_timeout: Duration,
}

/// Serves one port-forward connection: every stream pair until the client
/// hangs up.
pub async fn serve<B: StreamingBackend>(
    conn: Connection,
    mut incoming: mpsc::UnboundedReceiver<IncomingStream>,
    target: Target,
    backend: Arc<B>,
) {
    let Target {
        sandbox_id,
        allowed,
        creation_timeout,
    } = target;
    let mut pending: HashMap<String, Pair> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let due = pending.values().map(|p| p.deadline).min();
        let stream = tokio::select! {
            stream = incoming.recv() => stream,
            () = sleep_until_some(due) => {
                expire(&mut pending, creation_timeout).await;
                continue;
            }
        };
        let Some(stream) = stream else { break };
        let IncomingStream {
            headers: h,
            reader,
            writer,
        } = stream;
        let request_id = headers::get(&h, "requestid").unwrap_or("").to_string();
        let pair = pending.entry(request_id.clone()).or_insert_with(|| Pair {
            port: None,
            error: None,
            data: None,
            deadline: Instant::now() + creation_timeout,
        });
        pair.port = headers::get(&h, "port").map(str::to_string);
        match headers::get(&h, "streamtype").unwrap_or("") {
            "error" => pair.error = Some(writer),
            "data" => pair.data = Some((reader, writer)),
            other => {
                tracing::debug!("portforward: unexpected stream type {other:?}");
                let _ = writer.reset(super::frame::RST_PROTOCOL_ERROR).await;
                continue;
            }
        }
        if pair.error.is_some()
            && pair.data.is_some()
            && let Some(Pair {
                port,
                error: Some(error),
                data: Some((reader, writer)),
                ..
            }) = pending.remove(&request_id)
        {
            let backend = backend.clone();
            let sandbox_id = sandbox_id.clone();
            let allowed = allowed.clone();
            tasks.spawn(async move {
                forward(
                    &*backend,
                    &sandbox_id,
                    port,
                    &allowed,
                    error,
                    reader,
                    writer,
                )
                .await;
            });
        }
        // Reap finished pairs as we go so a long session does not accumulate.
        while tasks.try_join_next().is_some() {}
    }
    // The client hung up: its streams are gone, so are the pairs.
    tasks.shutdown().await;
    conn.shutdown().await;
}

/// Resolves at `due`; never without one.
async fn sleep_until_some(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Drops the pairs whose second stream is overdue, telling the client why.
async fn expire(pending: &mut HashMap<String, Pair>, creation_timeout: Duration) {
    let now = Instant::now();
    let overdue: Vec<String> = pending
        .iter()
        .filter(|(_, pair)| pair.deadline <= now)
        .map(|(id, _)| id.clone())
        .collect();
    for request_id in overdue {
        let Some(pair) = pending.remove(&request_id) else {
            continue;
        };
        let missing = if pair.error.is_some() {
            "data"
        } else {
            "error"
        };
        let message = format!(
            "timed out waiting for the {missing} stream of port-forward request {request_id:?} \
             (stream_creation_timeout {creation_timeout:?})"
        );
        tracing::warn!("portforward: {message}");
        if let Some(error) = pair.error {
            let _ = error.write(message.as_bytes()).await;
            let _ = error.close().await;
        }
        if let Some((_, writer)) = pair.data {
            let _ = writer.reset(super::frame::RST_CANCEL).await;
        }
    }
}

async fn forward<B: StreamingBackend>(
    backend: &B,
    sandbox_id: &str,
    port: Option<String>,
    allowed: &[u16],
    error: StreamWriter,
    mut reader: StreamReader,
    writer: StreamWriter,
) {
    let port_text = port.unwrap_or_default();
    let result = match port_text.parse::<u16>() {
        Ok(p) if p > 0 && (allowed.is_empty() || allowed.contains(&p)) => {
            backend.port_forward(sandbox_id, p).await.map(|s| (p, s))
        }
        Ok(p) if p > 0 => Err(StreamError::InvalidRequest(format!(
            "port {p} was not requested"
        ))),
        _ => Err(StreamError::InvalidRequest(format!(
            "invalid port {port_text:?}"
        ))),
    };
    let (port, tcp) = match result {
        Ok(ok) => ok,
        Err(e) => {
            let msg = format!("error forwarding port {port_text} to pod {sandbox_id}: {e}");
            let _ = error.write(msg.as_bytes()).await;
            let _ = error.close().await;
            let _ = writer.close().await;
            return;
        }
    };
    let (mut tcp_read, mut tcp_write) = tcp.into_split();
    let upload = async {
        while let Some(data) = reader.read().await {
            if tcp_write.write_all(&data).await.is_err() {
                break;
            }
        }
        // Client's FIN → FIN to the port.
        let _ = tcp_write.shutdown().await;
    };
    let download = async {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match tcp_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if writer.write(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = writer.close().await;
    };
    // The port's side ending ends the connection (after a short grace for the
    // client's last bytes): a client waits for the error stream to close before
    // it closes its local socket. The client's FIN alone only half-closes.
    tokio::pin!(upload, download);
    tokio::select! {
        () = &mut download => {
            let _ = tokio::time::timeout(UPLOAD_GRACE, upload).await;
        }
        () = &mut upload => download.await,
    }
    tracing::debug!("portforward: connection to port {port} done");
    let _ = error.close().await;
}
