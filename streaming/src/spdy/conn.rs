//! The server side of one SPDY/3.1 connection: a reader task that parses
//! frames and routes them, a writer task that owns the socket's write half and
//! the header compressor, and per-stream handles for the protocol handlers.
//!
//! Flow control: incoming DATA is acknowledged with WINDOW_UPDATE (stream and
//! session) only when the handler has taken it, so a flow-controlling client is
//! throttled by our consumer. Outgoing DATA honours the peer's windows once the
//! peer shows it does flow control (it sent a WINDOW_UPDATE or an initial
//! window SETTING); spdystream, the library of kubectl, crictl and the kubelet,
//! never sends WINDOW_UPDATE and ignores windows, so holding it to the 64 KiB
//! initial window would stall every large transfer.
//!
//! Keepalive ([`SessionTimeouts`]): a keepalive task PINGs the client (even
//! ids, as a server's are) every `ping` interval and closes a session idle
//! for `idle` (GOAWAY, then every handler sees the connection closed).
//! Client PINGs (odd ids) are echoed and count as activity; the client's
//! answers to our PINGs do not (see [`crate::timeouts`]).

use super::frame::{self, FLAG_FIN, Frame};
use super::headers::{Compressor, Decompressor, HeaderList};
use crate::timeouts::{Activity, SessionTimeouts};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

/// SPDY/3.1's initial stream and session window.
const INITIAL_WINDOW: i64 = 65536;
/// Largest DATA payload we send in one frame.
const MAX_DATA: usize = 32 * 1024;
/// Frames queued for the writer before senders wait (bounds memory).
const OUT_QUEUE: usize = 64;
/// Unconsumed inbound bytes one stream may hold before we stop reading the
/// socket until its handler catches up. A flow-controlling peer stays within
/// its 64 KiB window; spdystream ignores windows, so TCP backpressure is what
/// bounds our memory (as spdystream's own bounded frame queues do).
const HIGH_WATER: usize = 1 << 20;

/// The connection is gone (peer closed, reset, or I/O error).
#[derive(Debug, thiserror::Error)]
#[error("SPDY stream {0} closed")]
pub struct Closed(pub u32);

enum Out {
    Frame(Frame),
    Reply { stream_id: u32 },
    Shutdown,
}

#[derive(Default)]
struct Flow {
    enforced: bool,
    initial: i64,
    session: i64,
    streams: HashMap<u32, i64>,
}

struct Shared {
    out: mpsc::Sender<Out>,
    flow: Mutex<Flow>,
    window_grew: Notify,
    closed: watch::Sender<bool>,
    /// Traffic that keeps the session from being idle.
    activity: Activity,
}

impl Shared {
    fn touch(&self) {
        self.activity.touch();
    }

    /// Ends the connection for every handler (writers fail, `closed` resolves).
    fn mark_closed(&self) {
        let _ = self.closed.send(true);
        self.window_grew.notify_waiters();
    }
}

/// Bytes delivered to a stream's handler but not yet taken by it.
#[derive(Default)]
struct Buffered {
    bytes: AtomicUsize,
    drained: Notify,
}

/// A stream the client opened, with its (decompressed) SYN_STREAM headers.
pub struct IncomingStream {
    pub headers: HeaderList,
    pub reader: StreamReader,
    pub writer: StreamWriter,
}

/// Receives a stream's DATA; `None` after the client's FIN or a reset.
pub struct StreamReader {
    id: u32,
    rx: mpsc::UnboundedReceiver<Bytes>,
    buffered: Arc<Buffered>,
    shared: Arc<Shared>,
}

impl StreamReader {
    /// The next chunk, acknowledging it to the peer's flow control.
    pub async fn read(&mut self) -> Option<Bytes> {
        let data = self.rx.recv().await?;
        self.buffered.bytes.fetch_sub(data.len(), Ordering::Relaxed);
        self.buffered.drained.notify_one();
        let delta = data.len() as u32;
        if delta > 0 {
            for stream_id in [self.id, 0] {
                let _ = self
                    .shared
                    .out
                    .send(Out::Frame(Frame::WindowUpdate { stream_id, delta }))
                    .await;
            }
        }
        Some(data)
    }
}

/// Sends DATA on a stream; cheap to clone.
#[derive(Clone)]
pub struct StreamWriter {
    id: u32,
    shared: Arc<Shared>,
}

impl StreamWriter {
    /// Sends all of `data`, waiting for window and queue space.
    pub async fn write(&self, mut data: &[u8]) -> Result<(), Closed> {
        while !data.is_empty() {
            let n = self.reserve(data.len().min(MAX_DATA)).await?;
            let (chunk, rest) = data.split_at(n);
            data = rest;
            self.send(Frame::Data {
                stream_id: self.id,
                flags: 0,
                data: Bytes::copy_from_slice(chunk),
            })
            .await?;
        }
        Ok(())
    }

    /// Half-closes the stream (DATA with FIN).
    pub async fn close(&self) -> Result<(), Closed> {
        self.send(Frame::Data {
            stream_id: self.id,
            flags: FLAG_FIN,
            data: Bytes::new(),
        })
        .await
    }

    /// Aborts the stream (RST_STREAM).
    pub async fn reset(&self, status: u32) -> Result<(), Closed> {
        self.send(Frame::RstStream {
            stream_id: self.id,
            status,
        })
        .await
    }

    async fn send(&self, frame: Frame) -> Result<(), Closed> {
        self.shared
            .out
            .send(Out::Frame(frame))
            .await
            .map_err(|_| Closed(self.id))
    }

    /// Takes up to `want` bytes of send window (all of it when the peer does
    /// no flow control).
    async fn reserve(&self, want: usize) -> Result<usize, Closed> {
        let want = want as i64;
        loop {
            let grew = self.shared.window_grew.notified();
            tokio::pin!(grew);
            grew.as_mut().enable();
            {
                let mut flow = self.shared.flow.lock().unwrap_or_else(|e| e.into_inner());
                let session = flow.session;
                let enforced = flow.enforced;
                let Some(stream) = flow.streams.get_mut(&self.id) else {
                    return Err(Closed(self.id));
                };
                let n = if enforced {
                    want.min(*stream).min(session)
                } else {
                    want
                };
                if n > 0 {
                    *stream -= n;
                    flow.session -= n;
                    return Ok(n as usize);
                }
            }
            if *self.shared.closed.borrow() {
                return Err(Closed(self.id));
            }
            grew.await;
        }
    }
}

/// The connection as a whole.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
}

impl Connection {
    /// Resolves when the peer has gone away.
    pub async fn closed(&self) {
        let mut rx = self.shared.closed.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Sends GOAWAY after everything queued so far, then closes our side.
    pub async fn shutdown(&self) {
        let _ = self.shared.out.send(Out::Shutdown).await;
    }
}

/// Starts serving `io` as a SPDY server; new client streams arrive on the
/// returned receiver (which ends when the connection does). `timeouts` sets
/// the pings and the idle limit (its `creation` is the protocols' business).
pub fn serve<IO>(
    io: IO,
    timeouts: SessionTimeouts,
) -> (Connection, mpsc::UnboundedReceiver<IncomingStream>)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read_half, write_half) = tokio::io::split(io);
    let (out_tx, out_rx) = mpsc::channel(OUT_QUEUE);
    let (closed, _) = watch::channel(false);
    let shared = Arc::new(Shared {
        out: out_tx,
        flow: Mutex::new(Flow {
            enforced: false,
            initial: INITIAL_WINDOW,
            session: INITIAL_WINDOW,
            streams: HashMap::new(),
        }),
        window_grew: Notify::new(),
        closed,
        activity: Activity::default(),
    });
    let (accept_tx, accept_rx) = mpsc::unbounded_channel();
    tokio::spawn(write_loop(write_half, out_rx, shared.clone()));
    tokio::spawn(read_loop(read_half, accept_tx, shared.clone()));
    if timeouts.idle.is_some() || timeouts.ping.is_some() {
        tokio::spawn(keepalive(shared.clone(), timeouts));
    }
    (Connection { shared }, accept_rx)
}

/// PINGs the client every `timeouts.ping`; closes the session once it has
/// been idle for `timeouts.idle`. Ends with the connection.
async fn keepalive(shared: Arc<Shared>, timeouts: SessionTimeouts) {
    let mut closed = shared.closed.subscribe();
    let mut next_ping = timeouts.ping.map(|every| Instant::now() + every);
    let mut ping_id: u32 = 0;
    loop {
        let idle_at = timeouts.idle.map(|idle| shared.activity.last() + idle);
        let Some(wake) = [idle_at, next_ping].into_iter().flatten().min() else {
            return;
        };
        tokio::select! {
            _ = closed.wait_for(|c| *c) => return,
            () = tokio::time::sleep_until(wake) => {}
        }
        let now = Instant::now();
        if let Some(idle) = timeouts.idle
            && now >= shared.activity.last() + idle
        {
            tracing::info!("SPDY session idle for {idle:?} (stream_idle_timeout): closing it");
            let _ = shared.out.send(Out::Shutdown).await;
            shared.mark_closed();
            return;
        }
        if let (Some(every), Some(at)) = (timeouts.ping, next_ping)
            && now >= at
        {
            ping_id = ping_id.wrapping_add(2);
            if shared
                .out
                .send(Out::Frame(Frame::Ping { id: ping_id }))
                .await
                .is_err()
            {
                return;
            }
            next_ping = Some(now + every);
        }
    }
}

async fn write_loop<W: AsyncWrite>(
    write_half: W,
    mut out: mpsc::Receiver<Out>,
    shared: Arc<Shared>,
) {
    tokio::pin!(write_half);
    let mut compressor = Compressor::new();
    let mut buf = BytesMut::with_capacity(MAX_DATA + 64);
    let mut last_good = 0;
    'outer: while let Some(first) = out.recv().await {
        let mut next = Some(first);
        let mut shutdown = false;
        // Coalesce what is already queued into one write.
        while let Some(item) = next.take() {
            match item {
                Out::Frame(f) => {
                    if matches!(f, Frame::Data { .. }) {
                        shared.touch();
                    }
                    frame::encode(&f, &mut buf)
                }
                Out::Reply { stream_id } => {
                    shared.touch();
                    last_good = stream_id;
                    match compressor.compress(&[]) {
                        Ok(header_block) => frame::encode(
                            &Frame::SynReply {
                                stream_id,
                                flags: 0,
                                header_block,
                            },
                            &mut buf,
                        ),
                        Err(e) => {
                            tracing::warn!("SPDY reply: {e}");
                            break 'outer;
                        }
                    }
                }
                Out::Shutdown => {
                    frame::encode(
                        &Frame::GoAway {
                            last_good_id: last_good,
                            status: 0,
                        },
                        &mut buf,
                    );
                    shutdown = true;
                    break;
                }
            }
            if buf.len() < 256 * 1024 {
                next = out.try_recv().ok();
            }
        }
        if write_half.write_all(&buf).await.is_err() {
            break;
        }
        buf.clear();
        if shutdown {
            let _ = write_half.flush().await;
            let _ = write_half.shutdown().await;
            break;
        }
    }
    shared.mark_closed();
}

/// Reads frames until the peer goes away, a protocol error, or our side
/// closes; then ends every inbound stream and marks the connection closed.
async fn read_loop<R: AsyncRead>(
    read_half: R,
    accept: mpsc::UnboundedSender<IncomingStream>,
    shared: Arc<Shared>,
) {
    tokio::pin!(read_half);
    let mut router = Router {
        decompressor: Decompressor::new(),
        inbound: HashMap::new(),
        accept,
        shared: shared.clone(),
    };
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut closed = shared.closed.subscribe();
    'read: loop {
        loop {
            let frame = match frame::decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!("SPDY protocol error: {e}");
                    break 'read;
                }
            };
            if router.route(frame).await.is_break() {
                break 'read;
            }
        }
        tokio::select! {
            read = read_half.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
            // Closed from our side (idle timeout, or GOAWAY sent).
            _ = closed.wait_for(|c| *c) => break,
        }
    }
    // Everything inbound ends; writers fail; handlers see `closed`.
    router.inbound.clear();
    shared
        .flow
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .streams
        .clear();
    shared.mark_closed();
}

/// A client stream's inbound side: where its DATA goes, and how much of it
/// the handler has not taken yet.
type Inbound = (mpsc::UnboundedSender<Bytes>, Arc<Buffered>);

/// The reader's state: one method per frame type it acts on.
struct Router {
    /// The peer's header compression context (kept in step on every block).
    decompressor: Decompressor,
    /// Client streams still open for DATA from the client.
    inbound: HashMap<u32, Inbound>,
    /// New client streams, for the protocol handlers.
    accept: mpsc::UnboundedSender<IncomingStream>,
    shared: Arc<Shared>,
}

impl Router {
    /// Acts on one frame; `Break` ends the connection.
    async fn route(&mut self, frame: Frame) -> ControlFlow<()> {
        // Answers to our own PINGs are not the client's activity.
        if !matches!(frame, Frame::Ping { id } if id % 2 == 0) {
            self.shared.touch();
        }
        match frame {
            Frame::SynStream {
                stream_id,
                flags,
                header_block,
                ..
            } => self.open_stream(stream_id, flags, &header_block).await,
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                self.deliver(stream_id, flags, data).await;
                ControlFlow::Continue(())
            }
            Frame::SynReply { header_block, .. } | Frame::Headers { header_block, .. } => {
                // Keep the zlib stream in step even though we need no headers.
                if self.decompressor.decompress(&header_block).is_err() {
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            }
            Frame::RstStream { stream_id, .. } => {
                self.reset_stream(stream_id);
                ControlFlow::Continue(())
            }
            Frame::Settings { entries, .. } => {
                self.apply_settings(entries);
                ControlFlow::Continue(())
            }
            Frame::WindowUpdate { stream_id, delta } => {
                self.grow_window(stream_id, delta);
                ControlFlow::Continue(())
            }
            Frame::Ping { id } => self.answer_ping(id).await,
            Frame::GoAway { .. } => ControlFlow::Break(()),
            Frame::Unknown { .. } => ControlFlow::Continue(()),
        }
    }

    /// SYN_STREAM: replies, gives the stream its send window and hands it
    /// to the protocol handlers.
    async fn open_stream(
        &mut self,
        stream_id: u32,
        flags: u8,
        header_block: &[u8],
    ) -> ControlFlow<()> {
        let headers = match self.decompressor.decompress(header_block) {
            Ok(h) => h,
            Err(e) => {
                tracing::debug!("SPDY headers: {e}");
                return ControlFlow::Break(());
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let buffered = Arc::new(Buffered::default());
        if flags & FLAG_FIN == 0 {
            self.inbound.insert(stream_id, (tx, buffered.clone()));
        }
        {
            let mut flow = self.shared.flow.lock().unwrap_or_else(|e| e.into_inner());
            let initial = flow.initial;
            flow.streams.insert(stream_id, initial);
        }
        if self
            .shared
            .out
            .send(Out::Reply { stream_id })
            .await
            .is_err()
        {
            return ControlFlow::Break(());
        }
        let stream = IncomingStream {
            headers,
            reader: StreamReader {
                id: stream_id,
                rx,
                buffered,
                shared: self.shared.clone(),
            },
            writer: StreamWriter {
                id: stream_id,
                shared: self.shared.clone(),
            },
        };
        let _ = self.accept.send(stream);
        ControlFlow::Continue(())
    }

    /// DATA: passes it to the stream's handler, holding the socket while the
    /// handler is more than [`HIGH_WATER`] behind; FIN ends the stream's
    /// inbound side.
    async fn deliver(&mut self, stream_id: u32, flags: u8, data: Bytes) {
        if let Some((tx, buffered)) = self.inbound.get(&stream_id)
            && !data.is_empty()
        {
            buffered.bytes.fetch_add(data.len(), Ordering::Relaxed);
            let _ = tx.send(data);
            // Backpressure: wait for the handler (or its exit).
            while buffered.bytes.load(Ordering::Relaxed) > HIGH_WATER && !tx.is_closed() {
                tokio::select! {
                    () = buffered.drained.notified() => {}
                    () = tx.closed() => {}
                }
            }
        }
        if flags & FLAG_FIN != 0 {
            self.inbound.remove(&stream_id);
        }
    }

    /// RST_STREAM: the stream ends both ways; its writers wake and fail.
    fn reset_stream(&mut self, stream_id: u32) {
        self.inbound.remove(&stream_id);
        let mut flow = self.shared.flow.lock().unwrap_or_else(|e| e.into_inner());
        flow.streams.remove(&stream_id);
        drop(flow);
        self.shared.window_grew.notify_waiters();
    }

    /// SETTINGS: a new initial window moves every open stream's window by
    /// the difference, and shows the peer does flow control.
    fn apply_settings(&self, entries: Vec<(u8, u32, u32)>) {
        let mut flow = self.shared.flow.lock().unwrap_or_else(|e| e.into_inner());
        for (_, id, value) in entries {
            if id == frame::SETTINGS_INITIAL_WINDOW_SIZE {
                let delta = value as i64 - flow.initial;
                flow.initial = value as i64;
                flow.enforced = true;
                flow.streams.values_mut().for_each(|w| *w += delta);
            }
        }
        drop(flow);
        self.shared.window_grew.notify_waiters();
    }

    /// WINDOW_UPDATE: grows the session's (stream 0) or a stream's window,
    /// and shows the peer does flow control.
    fn grow_window(&self, stream_id: u32, delta: u32) {
        let mut flow = self.shared.flow.lock().unwrap_or_else(|e| e.into_inner());
        flow.enforced = true;
        if stream_id == 0 {
            flow.session += delta as i64;
        } else if let Some(w) = flow.streams.get_mut(&stream_id) {
            *w += delta as i64;
        }
        drop(flow);
        self.shared.window_grew.notify_waiters();
    }

    /// PING: echoes the client's (odd) pings; ours would be even.
    async fn answer_ping(&self, id: u32) -> ControlFlow<()> {
        if id % 2 == 1
            && self
                .shared
                .out
                .send(Out::Frame(Frame::Ping { id }))
                .await
                .is_err()
        {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
