//! Kubernetes remotecommand over SPDY (exec and attach): the client opens one
//! stream per `streamType` header (error, stdin, stdout, stderr, resize); we
//! wait for the set the request needs, bridge them to the backend, then report
//! the outcome on the error stream (JSON Status from v4, text before).

use super::conn::{Connection, IncomingStream, StreamReader, StreamWriter};
use super::headers;
use crate::backend::{StreamIo, StreamingBackend};
use crate::pump::{self, CHUNK};
use crate::remotecommand::{self, Command};
use crate::request::TerminalSize;
use crate::status::{self, Outcome};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// remotecommand versions we speak, most preferred first.
pub const PROTOCOLS: [&str; 4] = [
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];

#[derive(Default)]
struct Streams {
    error: Option<StreamWriter>,
    stdin: Option<StreamReader>,
    stdout: Option<StreamWriter>,
    stderr: Option<StreamWriter>,
    resize: Option<StreamReader>,
}

/// One exec/attach session: its negotiated protocol, what runs, and how long
/// the client has to open the streams it needs (`stream_creation_timeout`).
pub struct Session<'a> {
    pub protocol: &'a str,
    pub command: Command,
    pub creation_timeout: Duration,
}

/// Serves one exec/attach connection to its end. A client that has not
/// opened every stream the request needs within the creation timeout gets
/// the reason on its error stream (if it opened that one) and the session
/// is closed without running anything.
pub async fn serve<B: StreamingBackend>(
    conn: Connection,
    mut incoming: mpsc::UnboundedReceiver<IncomingStream>,
    session: Session<'_>,
    backend: &B,
) {
    let Session {
        protocol,
        command,
        creation_timeout,
    } = session;
    let needed = streams_needed(&command, protocol);
    let Some(mut streams) =
        collect_streams(&conn, &mut incoming, needed, protocol, creation_timeout).await
    else {
        return;
    };
    let (io, pumps) = bridge(&mut streams);
    let outcome = remotecommand::run(backend, command, io, conn.closed()).await;
    let Some(outcome) = outcome else {
        tracing::debug!("exec: client went away; backend cancelled");
        return;
    };
    // All output reaches the client before the status does.
    for p in pumps {
        let _ = p.await;
    }
    if let Some(error) = streams.error {
        report(&error, protocol, &outcome).await;
    }
    finish(&conn).await;
}

/// How many streams the client must open for `command`: the error stream,
/// one per wanted standard stream, and resize for a TTY from v3 on.
fn streams_needed(command: &Command, protocol: &str) -> usize {
    let wanted = command.wanted();
    // v1 and v2 have no resize stream.
    let resize_wanted = wanted.tty && matches!(protocol, "v3.channel.k8s.io" | "v4.channel.k8s.io");
    1 + usize::from(wanted.stdin)
        + usize::from(wanted.stdout)
        + usize::from(wanted.stderr)
        + usize::from(resize_wanted)
}

/// Waits for the client to open `needed` streams, sorting them by their
/// `streamType` (others are reset and not counted; `incoming` stays the
/// caller's, so later streams wait there unserved). `None` when the session
/// is over instead: the client left, or the creation timeout passed (the
/// reason then goes on the error stream, if open, and the session closes).
async fn collect_streams(
    conn: &Connection,
    incoming: &mut mpsc::UnboundedReceiver<IncomingStream>,
    needed: usize,
    protocol: &str,
    creation_timeout: Duration,
) -> Option<Streams> {
    let mut streams = Streams::default();
    let mut seen = 0;
    let deadline = tokio::time::sleep(creation_timeout);
    tokio::pin!(deadline);
    while seen < needed {
        let stream = tokio::select! {
            s = incoming.recv() => s,
            () = &mut deadline => {
                let message = format!(
                    "timed out waiting for the client to create streams: {seen} of {needed} \
                     opened within {creation_timeout:?} (stream_creation_timeout)"
                );
                tracing::warn!("exec/attach: {message}");
                if let Some(error) = streams.error.take() {
                    report(&error, protocol, &Outcome::Failed(message)).await;
                }
                finish(conn).await;
                return None;
            }
        };
        let Some(stream) = stream else {
            tracing::debug!("exec: client left before opening its streams");
            conn.shutdown().await;
            return None;
        };
        seen += 1;
        let IncomingStream {
            headers: h,
            reader,
            writer,
        } = stream;
        match headers::get(&h, "streamtype").unwrap_or("") {
            "error" => streams.error = Some(writer),
            "stdin" => streams.stdin = Some(reader),
            "stdout" => streams.stdout = Some(writer),
            "stderr" => streams.stderr = Some(writer),
            "resize" => streams.resize = Some(reader),
            other => {
                tracing::debug!("exec: unexpected stream type {other:?}");
                seen -= 1;
                let _ = writer.reset(super::frame::RST_PROTOCOL_ERROR).await;
            }
        }
    }
    Some(streams)
}

/// Connects the client's standard and resize streams to the backend's ends
/// (taking them out of `streams`, which keeps the error stream); returns the
/// backend's side and the output pumps, which end once all output is sent.
fn bridge(streams: &mut Streams) -> (StreamIo, Vec<JoinHandle<()>>) {
    let mut io = StreamIo::default();
    let mut pumps: Vec<JoinHandle<()>> = Vec::new();
    if let Some(reader) = streams.stdin.take() {
        let (backend_end, ours) = pump::pipe();
        tokio::spawn(feed(reader, ours));
        io.stdin = Some(Box::new(backend_end));
    }
    if let Some(writer) = streams.stdout.take() {
        let (backend_end, ours) = pump::pipe();
        pumps.push(tokio::spawn(drain(ours, writer)));
        io.stdout = Some(Box::new(backend_end));
    }
    if let Some(writer) = streams.stderr.take() {
        let (backend_end, ours) = pump::pipe();
        pumps.push(tokio::spawn(drain(ours, writer)));
        io.stderr = Some(Box::new(backend_end));
    }
    if let Some(reader) = streams.resize.take() {
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(resizes(reader, tx));
        io.resize = Some(rx);
    }
    (io, pumps)
}

/// Writes `outcome` on the error stream as `protocol` does, then closes it.
async fn report(error: &StreamWriter, protocol: &str, outcome: &Outcome) {
    let payload = if protocol == "v4.channel.k8s.io" {
        Some(status::v4_status(outcome))
    } else {
        status::v1_status(outcome)
    };
    if let Some(payload) = payload {
        let _ = error.write(&payload).await;
    }
    let _ = error.close().await;
}

/// Sends GOAWAY and gives the client a moment to read and hang up first.
pub async fn finish(conn: &Connection) {
    conn.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
}

/// Client stream → backend pipe; EOF (shutdown) at the client's FIN.
async fn feed(mut reader: StreamReader, mut pipe: tokio::io::DuplexStream) {
    while let Some(data) = reader.read().await {
        if pipe.write_all(&data).await.is_err() {
            return;
        }
    }
    let _ = pipe.shutdown().await;
}

/// Backend pipe → client stream; FIN when the backend closes its end.
async fn drain(mut pipe: tokio::io::DuplexStream, writer: StreamWriter) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if writer.write(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = writer.close().await;
}

async fn resizes(mut reader: StreamReader, tx: mpsc::Sender<TerminalSize>) {
    let mut buf = Vec::new();
    while let Some(data) = reader.read().await {
        buf.extend_from_slice(&data);
        for size in pump::take_resizes(&mut buf) {
            if tx.send(size).await.is_err() {
                return;
            }
        }
    }
}
