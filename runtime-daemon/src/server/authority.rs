//! The `:authority` a unix-socket gRPC client sends, made one that the
//! HTTP/2 server (h2, under tonic) accepts.
//!
//! grpc C-core (Python's grpcio, Ruby, PHP) sends the percent-encoded
//! socket path (`run%2Fcradle%2Fcradle.sock`) and grpc-java the path
//! itself; h2 parses `:authority` as a URI authority, fails, and resets
//! every stream with PROTOCOL_ERROR, with no option to relax it.
//! containerd and CRI-O (Go's HTTP/2 server) accept them. So the bytes the
//! client sends pass through [`AuthorityFix`] on their way to h2: frames go
//! through untouched except header blocks, which are HPACK-decoded,
//! any `:authority` that is not a valid URI authority replaced by
//! `localhost` (what grpc-go and the kubelet send over a unix socket), and
//! encoded again. Every block is re-encoded, not only the fixed ones: the
//! client's HPACK encoder and h2's decoder each keep a dynamic table, and
//! this adapter is the peer of both.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

/// The client connection preface: `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`.
const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The frame size every HTTP/2 peer accepts (SETTINGS_MAX_FRAME_SIZE's
/// floor), for the re-encoded header blocks.
const MAX_FRAME: usize = 16_384;
/// What replaces an authority that is not one.
const LOCALHOST: &[u8] = b"localhost";

/// A connection whose incoming header blocks carry a valid `:authority`.
pub struct AuthorityFix<S> {
    inner: S,
    /// Bytes read from the client, not yet a whole frame.
    raw: Vec<u8>,
    /// Bytes ready for h2, from `ready_at` on.
    ready: Vec<u8>,
    ready_at: usize,
    rewriter: Rewriter,
}

impl<S> AuthorityFix<S> {
    pub fn new(inner: S) -> Self {
        AuthorityFix {
            inner,
            raw: Vec::new(),
            ready: Vec::new(),
            ready_at: 0,
            rewriter: Rewriter::default(),
        }
    }
}

fn malformed(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// A header block still waiting for its CONTINUATION frames.
struct Pending {
    stream: [u8; 4],
    end_stream: bool,
    priority: Option<[u8; 5]>,
    block: Vec<u8>,
}

/// The client-to-server frame rewriter, with the two HPACK contexts.
struct Rewriter {
    preface_left: usize,
    decoder: loona_hpack::Decoder<'static>,
    encoder: loona_hpack::Encoder<'static>,
    pending: Option<Pending>,
}

impl Default for Rewriter {
    fn default() -> Self {
        Rewriter {
            preface_left: PREFACE_LEN,
            decoder: loona_hpack::Decoder::new(),
            encoder: loona_hpack::Encoder::new(),
            pending: None,
        }
    }
}

impl Rewriter {
    /// Moves every whole unit (preface bytes, frames) of `raw` to `out`,
    /// header blocks rewritten; leaves a partial frame in `raw`.
    fn feed(&mut self, raw: &mut Vec<u8>, out: &mut Vec<u8>) -> io::Result<()> {
        let mut at = 0;
        if self.preface_left > 0 {
            let n = self.preface_left.min(raw.len());
            out.extend_from_slice(&raw[..n]);
            self.preface_left -= n;
            at = n;
        }
        while raw.len() - at >= FRAME_HEADER_LEN {
            let head = &raw[at..at + FRAME_HEADER_LEN];
            let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
            if raw.len() - at - FRAME_HEADER_LEN < len {
                break;
            }
            let end = at + FRAME_HEADER_LEN + len;
            self.frame(&raw[at..end], out)?;
            at = end;
        }
        raw.drain(..at);
        Ok(())
    }

    fn frame(&mut self, frame: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let (kind, flags) = (frame[3], frame[4]);
        let mut stream = [0u8; 4];
        stream.copy_from_slice(&frame[5..9]);
        let payload = &frame[FRAME_HEADER_LEN..];
        match kind {
            HEADERS => {
                if self.pending.is_some() {
                    return Err(malformed("HEADERS while a header block is open"));
                }
                let (priority, fragment) = headers_payload(flags, payload)?;
                self.pending = Some(Pending {
                    stream,
                    end_stream: flags & END_STREAM != 0,
                    priority,
                    block: fragment.to_vec(),
                });
            }
            CONTINUATION => match self.pending.as_mut() {
                Some(p) if p.stream == stream => p.block.extend_from_slice(payload),
                _ => return Err(malformed("CONTINUATION without its HEADERS")),
            },
            _ if self.pending.is_some() => {
                return Err(malformed("a frame inside a header block"));
            }
            _ => {
                out.extend_from_slice(frame);
                return Ok(());
            }
        }
        if flags & END_HEADERS != 0
            && let Some(pending) = self.pending.take()
        {
            self.emit(pending, out)?;
        }
        Ok(())
    }

    /// Decodes a whole header block, fixes `:authority`, encodes it again
    /// and writes it as HEADERS (+ CONTINUATION) frames.
    fn emit(&mut self, pending: Pending, out: &mut Vec<u8>) -> io::Result<()> {
        let mut headers = self
            .decoder
            .decode(&pending.block)
            .map_err(|e| malformed(format!("HPACK: {e:?}")))?;
        for (name, value) in &mut headers {
            if name.as_slice() == b":authority"
                && http::uri::Authority::try_from(&value[..]).is_err()
            {
                tracing::debug!(
                    authority = %String::from_utf8_lossy(value),
                    "unix-socket client sent an invalid :authority; serving it as localhost"
                );
                *value = LOCALHOST.to_vec();
            }
        }
        let block = self
            .encoder
            .encode(headers.iter().map(|(n, v)| (&n[..], &v[..])));
        let prefix = pending.priority.map(|p| p.to_vec()).unwrap_or_default();
        let first_room = MAX_FRAME - prefix.len();
        let (first, mut rest) = block.split_at(block.len().min(first_room));
        let mut flags = if pending.end_stream { END_STREAM } else { 0 };
        if pending.priority.is_some() {
            flags |= PRIORITY;
        }
        if rest.is_empty() {
            flags |= END_HEADERS;
        }
        write_frame(out, HEADERS, flags, pending.stream, &[&prefix, first]);
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(MAX_FRAME));
            rest = tail;
            let flags = if rest.is_empty() { END_HEADERS } else { 0 };
            write_frame(out, CONTINUATION, flags, pending.stream, &[chunk]);
        }
        Ok(())
    }
}

/// A HEADERS payload's priority fields and header block fragment, padding
/// removed.
fn headers_payload(flags: u8, payload: &[u8]) -> io::Result<(Option<[u8; 5]>, &[u8])> {
    let mut body = payload;
    let mut pad = 0;
    if flags & PADDED != 0 {
        let (&len, rest) = body
            .split_first()
            .ok_or_else(|| malformed("PADDED HEADERS without a pad length"))?;
        pad = usize::from(len);
        body = rest;
    }
    let mut priority = None;
    if flags & PRIORITY != 0 {
        let (fields, rest) = body
            .split_first_chunk::<5>()
            .ok_or_else(|| malformed("HEADERS too short for its priority"))?;
        priority = Some(*fields);
        body = rest;
    }
    let fragment_len = body
        .len()
        .checked_sub(pad)
        .ok_or_else(|| malformed("HEADERS padding longer than the frame"))?;
    Ok((priority, &body[..fragment_len]))
}

fn write_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: [u8; 4], parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream);
    for part in parts {
        out.extend_from_slice(part);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityFix<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready_at < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.ready_at);
                buf.put_slice(&this.ready[this.ready_at..this.ready_at + n]);
                this.ready_at += n;
                if this.ready_at == this.ready.len() {
                    this.ready.clear();
                    this.ready_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                return Poll::Ready(Ok(())); // end of stream
            }
            this.raw.extend_from_slice(read.filled());
            this.rewriter.feed(&mut this.raw, &mut this.ready)?;
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityFix<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: Connected> Connected for AuthorityFix<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
#[path = "authority_tests.rs"]
mod tests;
