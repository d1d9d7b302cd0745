//! Kubernetes' WebSocket channel protocols: every message starts with a
//! channel byte (binary) or channel digit (base64 text). remotecommand uses
//! 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize, and v5 adds 255 "close
//! channel N"; portforward uses 2n for port n's data and 2n+1 for its errors,
//! each opened by a server frame carrying the port as little-endian u16.
//!
//! A session idle for the idle timeout (no message from the client, no data
//! from us; see [`super::timeouts`]) is closed with a Close frame whose
//! reason says so; an exec's process is then killed as for a lost client.

use crate::backend::{StreamIo, StreamingBackend};
use crate::pump::{self, CHUNK};
use crate::remotecommand::{self, Command, Wanted};
use crate::request::TerminalSize;
use crate::status;
use crate::timeouts::Activity;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, frame::coding::CloseCode};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
/// v5: "the channel in the next byte is closed".
const CLOSE: u8 = 255;

/// How a negotiated subprotocol frames channels.
#[derive(Clone, Copy)]
struct Framing {
    base64: bool,
}

impl Framing {
    /// How many ports one port-forward session can carry: each takes two
    /// channels, a byte in binary framing (255 is v5's CLOSE) and an ASCII
    /// character from `'0'` in base64 framing.
    fn max_ports(self) -> usize {
        if self.base64 {
            usize::from((0x7f - b'0') / 2)
        } else {
            usize::from(CLOSE / 2)
        }
    }

    fn encode(self, channel: u8, data: &[u8]) -> Message {
        if self.base64 {
            let mut text = String::with_capacity(1 + data.len() * 4 / 3 + 4);
            text.push(char::from(b'0' + channel));
            B64.encode_string(data, &mut text);
            Message::text(text)
        } else {
            let mut buf = Vec::with_capacity(1 + data.len());
            buf.push(channel);
            buf.extend_from_slice(data);
            Message::binary(buf)
        }
    }

    /// Channel and payload of a client message; `None` for control messages.
    fn decode(self, msg: Message) -> Option<(u8, Bytes)> {
        match msg {
            Message::Binary(b) if !b.is_empty() => Some((b[0], b.slice(1..))),
            Message::Text(t) if self.base64 && !t.is_empty() => {
                let t = t.as_str();
                let channel = t.as_bytes()[0].checked_sub(b'0')?;
                // Not a char boundary when the first character is not ASCII.
                let payload = t.get(1..)?;
                B64.decode(payload).ok().map(|d| (channel, Bytes::from(d)))
            }
            _ => None,
        }
    }
}

/// A client message as a session decodes it (`base64`: a `*.base64.*`
/// subprotocol); for the fuzz targets and their corpus tests only.
#[doc(hidden)]
pub fn decode_message(base64: bool, msg: Message) -> Option<(u8, Bytes)> {
    Framing { base64 }.decode(msg)
}

/// A server message as a session frames it; see [`decode_message`].
#[doc(hidden)]
pub fn encode_message(base64: bool, channel: u8, data: &[u8]) -> Message {
    Framing { base64 }.encode(channel, data)
}

/// Ports from a `ports=80,8080` query (used when the CRI request named none).
pub fn query_ports(query: &str) -> Vec<u16> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "ports" || *k == "port")
        .flat_map(|(_, v)| {
            v.replace("%2C", ",")
                .replace("%2c", ",")
                .split(',')
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

/// Outgoing messages go through one writer task; it ends with a Close frame.
fn writer<S>(mut sink: S) -> (mpsc::Sender<Message>, tokio::task::JoinHandle<()>)
where
    S: futures::Sink<Message> + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    let task = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let close = matches!(msg, Message::Close(_));
            if sink.send(msg).await.is_err() || close {
                break;
            }
        }
        let _ = sink.close().await;
    });
    (tx, task)
}

fn close_normal() -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
}

/// The Close frame of a session closed for idleness.
fn close_idle(idle: Duration) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::Away,
        reason: format!("stream idle timeout: no traffic for {idle:?}").into(),
    }))
}

/// Serves exec/attach over WebSocket to its end; `idle` closes a session
/// without traffic for that long.
pub async fn exec<IO, B>(
    io: IO,
    protocol: Option<String>,
    command: Command,
    idle: Option<Duration>,
    backend: &B,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: StreamingBackend,
{
    let protocol = protocol.unwrap_or_else(|| "channel.k8s.io".into());
    let framing = Framing {
        base64: protocol.contains("base64"),
    };
    let json_status = protocol.starts_with("v4.") || protocol.starts_with("v5.");
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let (sink, stream) = ws.split();
    let (out, write_task) = writer(sink);
    let activity = Activity::default();
    let sender = Sender {
        out: out.clone(),
        framing,
        activity: activity.clone(),
    };
    let (io, input, pumps) = connect_backend(command.wanted(), sender);
    let (gone_tx, mut gone_rx) = watch::channel(false);
    // Client → stdin / resize; flags `gone` when the client closes or drops.
    tokio::spawn(read_client(
        stream,
        framing,
        input,
        activity.clone(),
        gone_tx,
    ));
    let timed_out = AtomicBool::new(false);
    let gone = async {
        tokio::select! {
            _ = gone_rx.wait_for(|g| *g) => {}
            () = activity.idle_for(idle) => timed_out.store(true, Ordering::Relaxed),
        }
    };
    let Some(outcome) = remotecommand::run(backend, command, io, gone).await else {
        if let (true, Some(idle)) = (timed_out.load(Ordering::Relaxed), idle) {
            tracing::info!("websocket exec: idle for {idle:?} (stream_idle_timeout): closed");
            end_session(out, write_task, close_idle(idle)).await;
        } else {
            tracing::debug!("websocket exec: client went away; backend cancelled");
        }
        return;
    };
    for p in pumps {
        let _ = p.await;
    }
    let payload = if json_status {
        Some(status::v4_status(&outcome))
    } else {
        status::v1_status(&outcome)
    };
    if let Some(payload) = payload {
        let _ = out.send(framing.encode(ERROR, &payload)).await;
    }
    end_session(out, write_task, close_normal()).await;
}

/// Where the client's stdin and resize messages go.
struct ClientInput {
    /// Our end of the backend's stdin (`None` when not wanted, or closed).
    stdin: Option<tokio::io::DuplexStream>,
    /// Terminal sizes for the backend (read only when it has a TTY).
    resize: mpsc::Sender<TerminalSize>,
}

/// The backend's ends of the streams `wanted` names; stdout and stderr are
/// pumped to the client through `sender` by the returned tasks, which end
/// once all output is sent.
fn connect_backend(wanted: Wanted, sender: Sender) -> (StreamIo, ClientInput, Vec<JoinHandle<()>>) {
    let mut io = StreamIo::default();
    let mut stdin_pipe = None;
    if wanted.stdin {
        let (backend_end, ours) = pump::pipe();
        io.stdin = Some(Box::new(backend_end));
        stdin_pipe = Some(ours);
    }
    let mut pumps = Vec::new();
    for (channel, on) in [(STDOUT, wanted.stdout), (STDERR, wanted.stderr)] {
        if on {
            let (backend_end, ours) = pump::pipe();
            pumps.push(tokio::spawn(drain(ours, channel, sender.clone())));
            let w: crate::backend::BoxedWriter = Box::new(backend_end);
            if channel == STDOUT {
                io.stdout = Some(w);
            } else {
                io.stderr = Some(w);
            }
        }
    }
    let (resize_tx, resize_rx) = mpsc::channel(8);
    if wanted.tty {
        io.resize = Some(resize_rx);
    }
    let input = ClientInput {
        stdin: stdin_pipe,
        resize: resize_tx,
    };
    (io, input, pumps)
}

/// Client messages → stdin / resize (v5's CLOSE of stdin ends it); flags
/// `gone` when the client closes or drops.
async fn read_client<S, E>(
    mut stream: S,
    framing: Framing,
    mut input: ClientInput,
    activity: Activity,
    gone: watch::Sender<bool>,
) where
    S: futures::Stream<Item = Result<Message, E>> + Unpin,
{
    let mut resize_buf = Vec::new();
    while let Some(Ok(msg)) = stream.next().await {
        activity.touch();
        if matches!(msg, Message::Close(_)) {
            break;
        }
        let Some((channel, data)) = framing.decode(msg) else {
            continue;
        };
        match channel {
            STDIN => {
                if let Some(pipe) = input.stdin.as_mut()
                    && pipe.write_all(&data).await.is_err()
                {
                    input.stdin = None;
                }
            }
            RESIZE => {
                resize_buf.extend_from_slice(&data);
                for size in pump::take_resizes(&mut resize_buf) {
                    let _ = input.resize.try_send(size);
                }
            }
            CLOSE if data.first() == Some(&STDIN) => {
                if let Some(mut pipe) = input.stdin.take() {
                    let _ = pipe.shutdown().await;
                }
            }
            _ => {}
        }
    }
    let _ = gone.send(true);
}

/// Queues the session's Close frame and gives the writer a moment to send
/// it and close the socket.
async fn end_session(out: mpsc::Sender<Message>, write_task: JoinHandle<()>, close: Message) {
    let _ = out.send(close).await;
    drop(out);
    let _ = tokio::time::timeout(Duration::from_secs(2), write_task).await;
}

/// Sends channel messages to the client, counting them as activity.
#[derive(Clone)]
struct Sender {
    out: mpsc::Sender<Message>,
    framing: Framing,
    activity: Activity,
}

impl Sender {
    /// False once the client is gone.
    async fn send(&self, channel: u8, data: &[u8]) -> bool {
        self.activity.touch();
        self.out
            .send(self.framing.encode(channel, data))
            .await
            .is_ok()
    }
}

/// Backend pipe → channel messages.
async fn drain(mut pipe: tokio::io::DuplexStream, channel: u8, sender: Sender) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if !sender.send(channel, &buf[..n]).await {
                    return;
                }
            }
        }
    }
}

/// Serves port-forward over WebSocket: one connection per requested port;
/// `idle` closes a session without traffic for that long.
pub async fn portforward<IO, B>(
    io: IO,
    protocol: Option<String>,
    target: (String, Vec<u16>),
    idle: Option<Duration>,
    backend: Arc<B>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: StreamingBackend,
{
    let framing = Framing {
        base64: protocol.as_deref().is_some_and(|p| p.contains("base64")),
    };
    let (sandbox_id, ports) = target;
    let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    if ports.len() > framing.max_ports() {
        refuse_ports(&mut ws, &sandbox_id, ports.len(), framing.max_ports()).await;
        return;
    }
    let (sink, mut stream) = ws.split();
    let (out, write_task) = writer(sink);
    let activity = Activity::default();
    let sender = Sender {
        out: out.clone(),
        framing,
        activity: activity.clone(),
    };
    let (mut uploads, mut conns) = open_ports(&backend, &sandbox_id, &ports, sender).await;
    let reader = route_uploads(&mut stream, framing, &mut uploads, &activity);
    let mut close = close_normal();
    tokio::select! {
        () = reader => conns.shutdown().await,
        () = async { while conns.join_next().await.is_some() {} } => {}
        () = activity.idle_for(idle) => {
            if let Some(idle) = idle {
                tracing::info!("websocket port-forward: idle for {idle:?} (stream_idle_timeout)");
                close = close_idle(idle);
            }
            conns.shutdown().await;
        }
    }
    end_session(out, write_task, close).await;
}

/// Closes a session that asked for more ports than its framing can carry,
/// saying why.
async fn refuse_ports<S>(ws: &mut S, sandbox_id: &str, asked: usize, max: usize)
where
    S: futures::Sink<Message> + Unpin,
{
    let reason = format!("{asked} ports asked for; one session carries at most {max}");
    tracing::warn!(sandbox = %sandbox_id, "port-forward refused: {reason}");
    let _ = ws
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Policy,
            reason: reason.into(),
        })))
        .await;
}

/// Opens each port's two channels (data, then errors, each announced by
/// the port number) and starts its connection; returns, per port, where the
/// client's uploads for it go, and the connections.
async fn open_ports<B: StreamingBackend>(
    backend: &Arc<B>,
    sandbox_id: &str,
    ports: &[u16],
    sender: Sender,
) -> (Vec<Option<mpsc::Sender<Bytes>>>, tokio::task::JoinSet<()>) {
    let mut uploads: Vec<Option<mpsc::Sender<Bytes>>> = Vec::new();
    let mut conns = tokio::task::JoinSet::new();
    for (i, port) in ports.iter().copied().enumerate() {
        let (data_ch, err_ch) = ((2 * i) as u8, (2 * i + 1) as u8);
        for ch in [data_ch, err_ch] {
            let _ = sender
                .out
                .send(sender.framing.encode(ch, &port.to_le_bytes()))
                .await;
        }
        let (tx, rx) = mpsc::channel::<Bytes>(16);
        uploads.push(Some(tx));
        let backend = backend.clone();
        let sandbox_id = sandbox_id.to_string();
        let sender = sender.clone();
        conns.spawn(async move {
            match backend.port_forward(&sandbox_id, port).await {
                Ok(tcp) => forward(tcp, rx, data_ch, sender).await,
                Err(e) => {
                    let msg = format!("error forwarding port {port} to pod {sandbox_id}: {e}");
                    sender.send(err_ch, msg.as_bytes()).await;
                }
            }
        });
    }
    (uploads, conns)
}

/// Client messages on a port's data channel → that port's connection; ends
/// when the client closes or drops.
async fn route_uploads<S, E>(
    stream: &mut S,
    framing: Framing,
    uploads: &mut [Option<mpsc::Sender<Bytes>>],
    activity: &Activity,
) where
    S: futures::Stream<Item = Result<Message, E>> + Unpin,
{
    while let Some(Ok(msg)) = stream.next().await {
        activity.touch();
        if matches!(msg, Message::Close(_)) {
            break;
        }
        let Some((channel, data)) = framing.decode(msg) else {
            continue;
        };
        let idx = usize::from(channel / 2);
        if channel % 2 == 0
            && let Some(slot) = uploads.get_mut(idx)
            && let Some(tx) = slot
            && tx.send(data).await.is_err()
        {
            *slot = None;
        }
    }
}

async fn forward(
    tcp: tokio::net::TcpStream,
    mut upload: mpsc::Receiver<Bytes>,
    channel: u8,
    sender: Sender,
) {
    let (mut tcp_read, mut tcp_write) = tcp.into_split();
    let up = async {
        while let Some(data) = upload.recv().await {
            if tcp_write.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = tcp_write.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match tcp_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !sender.send(channel, &buf[..n]).await {
                        break;
                    }
                }
            }
        }
    };
    tokio::pin!(up, down);
    tokio::select! {
        () = &mut down => {
            let _ = tokio::time::timeout(Duration::from_secs(1), up).await;
        }
        () = &mut up => down.await,
    }
}

#[cfg(test)]
#[path = "websocket_tests.rs"]
mod tests;
