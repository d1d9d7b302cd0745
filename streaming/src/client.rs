//! A remotecommand client (exec and attach) over WebSocket: what
//! `cradlectl exec -i/-t` speaks to the URL the CRI `Exec` rpc returns.
//!
//! It lives in this crate, beside the server, rather than in cradlectl: it
//! shares the server's types ([`StreamIo`], the channel numbers, the status
//! payloads), it is tested against the real server with a fake backend here
//! (no container needed), and any other Rust client can reuse it. What only
//! a terminal program needs (raw mode, the window size, signals) stays in
//! cradlectl.
//!
//! The client offers `v5.channel.k8s.io`, then `v4.channel.k8s.io` (binary
//! framing: one channel byte before each payload): 0 stdin, 1 stdout,
//! 2 stderr, 3 the outcome (a JSON `metav1.Status`), 4 terminal sizes
//! (`{"Width":w,"Height":h}`). The end of stdin is sent as v5's "close
//! channel 0" (255, 0); a v4 server cannot be told.

mod dial;
mod error;
mod exit;

use crate::backend::{BoxedReader, BoxedWriter, StreamIo};
use crate::pump::CHUNK;
use crate::request::TerminalSize;
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

pub use error::ClientError;
pub use exit::exit_code;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
/// v5: "the channel in the next byte is closed".
const CLOSE: u8 = 255;

/// Runs the exec or attach session behind `url` (a streaming URL from the
/// CRI `Exec` or `Attach` rpc) with `io`: `io.stdin` is sent until its end,
/// the remote output goes to `io.stdout` / `io.stderr`, each size from
/// `io.resize` is sent on the resize channel. Returns the remote command's
/// exit code. `tls_ca` checks the certificate of an https server.
pub async fn remote_command(
    url: &str,
    io: StreamIo,
    tls_ca: Option<&std::path::Path>,
) -> Result<i32, ClientError> {
    let (ws, protocol) = dial::connect(url, tls_ca).await?;
    tracing::debug!(%protocol, "streaming session upgraded");
    session(ws, protocol.starts_with("v5."), io).await
}

/// Moves `io` through an upgraded session; `v5`: the server understands
/// the close-channel message.
pub(crate) async fn session<S>(
    ws: WebSocketStream<S>,
    v5: bool,
    io: StreamIo,
) -> Result<i32, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, stream) = ws.split();
    let StreamIo {
        stdin,
        stdout,
        stderr,
        resize,
    } = io;
    let upload = async {
        if let Err(e) = upload(&mut sink, stdin, resize, v5).await {
            // The server went away; the download side sees why.
            tracing::debug!("streaming upload ended: {e}");
        }
        std::future::pending::<std::convert::Infallible>().await
    };
    let status = tokio::select! {
        status = download(stream, stdout, stderr) => status?,
        never = upload => match never {},
    };
    // Answer the server's Close (best effort; it does not wait long).
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    exit_code(&status)
}

/// Local stdin and terminal sizes → the server, until both end (then it
/// waits for the download side to finish).
async fn upload<K>(
    sink: &mut K,
    mut stdin: Option<BoxedReader>,
    mut resize: Option<mpsc::Receiver<TerminalSize>>,
    v5: bool,
) -> Result<(), K::Error>
where
    K: futures::Sink<Message> + Unpin,
{
    let mut buf = vec![0u8; CHUNK];
    while stdin.is_some() || resize.is_some() {
        tokio::select! {
            read = read_some(&mut stdin, &mut buf) => match read {
                Ok(n) if n > 0 => sink.send(frame(STDIN, &buf[..n])).await?,
                _ => {
                    stdin = None;
                    if v5 {
                        sink.send(frame(CLOSE, &[STDIN])).await?;
                    }
                }
            },
            size = next_size(&mut resize) => match size {
                Some(size) => sink.send(frame(RESIZE, &resize_json(size))).await?,
                None => resize = None,
            },
        }
    }
    Ok(())
}

/// Reads from `reader`; never resolves when there is none.
async fn read_some(reader: &mut Option<BoxedReader>, buf: &mut [u8]) -> std::io::Result<usize> {
    match reader {
        Some(r) => r.read(buf).await,
        None => std::future::pending().await,
    }
}

/// The next size; never resolves when there is no channel.
async fn next_size(resize: &mut Option<mpsc::Receiver<TerminalSize>>) -> Option<TerminalSize> {
    match resize {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A binary channel message.
fn frame(channel: u8, data: &[u8]) -> Message {
    let mut buf = Vec::with_capacity(1 + data.len());
    buf.push(channel);
    buf.extend_from_slice(data);
    Message::binary(buf)
}

/// A resize message's payload, as kubectl writes it.
fn resize_json(size: TerminalSize) -> Vec<u8> {
    format!(r#"{{"Width":{},"Height":{}}}"#, size.width, size.height).into_bytes()
}

/// Server messages → local output, until the server closes; returns the
/// status channel's bytes.
async fn download<T, E>(
    mut stream: T,
    mut stdout: Option<BoxedWriter>,
    mut stderr: Option<BoxedWriter>,
) -> Result<Vec<u8>, ClientError>
where
    T: futures::Stream<Item = Result<Message, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut status = Vec::new();
    let mut close_reason = String::new();
    while let Some(msg) = stream.next().await {
        let msg = match msg {
            Ok(msg) => msg,
            Err(e) => {
                tracing::debug!("streaming session read: {e}");
                if status.is_empty() {
                    close_reason = format!(" ({e})");
                }
                break;
            }
        };
        match msg {
            Message::Binary(data) if !data.is_empty() => match data[0] {
                STDOUT => write_out(&mut stdout, &data[1..]).await?,
                STDERR => write_out(&mut stderr, &data[1..]).await?,
                ERROR => status.extend_from_slice(&data[1..]),
                _ => {}
            },
            Message::Close(frame) => {
                if let Some(frame) = frame.filter(|f| !f.reason.is_empty()) {
                    close_reason = format!(": {}", frame.reason);
                }
                break;
            }
            _ => {}
        }
    }
    for out in [&mut stdout, &mut stderr].into_iter().flatten() {
        out.flush().await.map_err(ClientError::Output)?;
    }
    if status.is_empty() {
        return Err(ClientError::NoStatus(close_reason));
    }
    Ok(status)
}

/// Writes `data` to `out` (dropped when it is absent) and flushes it, so a
/// terminal shows it at once.
async fn write_out(out: &mut Option<BoxedWriter>, data: &[u8]) -> Result<(), ClientError> {
    if let Some(out) = out {
        out.write_all(data).await.map_err(ClientError::Output)?;
        out.flush().await.map_err(ClientError::Output)?;
    }
    Ok(())
}
