//! Tests of the SPDY server connection, speaking frames from the client side.

use super::*;
use crate::streaming::spdy::headers;
use std::time::Duration;

/// The test's side of the wire, with the same codec (its own zlib streams).
struct Peer {
    io: tokio::io::DuplexStream,
    buf: BytesMut,
    compressor: Compressor,
    decompressor: Decompressor,
}

impl Peer {
    async fn send(&mut self, f: Frame) {
        let mut out = BytesMut::new();
        frame::encode(&f, &mut out);
        self.io.write_all(&out).await.unwrap();
    }

    async fn open(&mut self, id: u32, stream_type: &str) {
        let header_block = self
            .compressor
            .compress(&[("streamtype".into(), stream_type.into())])
            .unwrap();
        self.send(Frame::SynStream {
            stream_id: id,
            associated_id: 0,
            priority: 0,
            flags: 0,
            header_block,
        })
        .await;
    }

    /// The next frame, or None if nothing arrives for a while.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = frame::decode(&mut self.buf).unwrap() {
                if let Frame::SynReply { header_block, .. } = &f {
                    self.decompressor.decompress(header_block).unwrap();
                }
                return Some(f);
            }
            let read = self.io.read_buf(&mut self.buf);
            match tokio::time::timeout(Duration::from_millis(200), read).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return None,
            }
        }
    }

    /// Sums DATA payload bytes on `id` until nothing more arrives.
    async fn data_total(&mut self, id: u32) -> usize {
        let mut total = 0;
        while let Some(f) = self.next().await {
            if let Frame::Data {
                stream_id, data, ..
            } = f
            {
                assert_eq!(stream_id, id);
                total += data.len();
            }
        }
        total
    }
}

fn pair() -> (Peer, Connection, mpsc::UnboundedReceiver<IncomingStream>) {
    let (a, b) = tokio::io::duplex(1 << 20);
    let (conn, incoming) = serve(b);
    let peer = Peer {
        io: a,
        buf: BytesMut::new(),
        compressor: Compressor::new(),
        decompressor: Decompressor::new(),
    };
    (peer, conn, incoming)
}

#[tokio::test]
async fn streams_get_a_reply_and_peers_without_flow_control_are_not_throttled() {
    let (mut peer, _conn, mut incoming) = pair();
    peer.open(1, "stdout").await;
    let stream = incoming.recv().await.unwrap();
    assert_eq!(headers::get(&stream.headers, "streamtype"), Some("stdout"));
    assert!(matches!(
        peer.next().await,
        Some(Frame::SynReply { stream_id: 1, .. })
    ));
    let writer = stream.writer.clone();
    tokio::spawn(async move { writer.write(&vec![7u8; 200_000]).await.unwrap() });
    assert_eq!(peer.data_total(1).await, 200_000);
}

#[tokio::test]
async fn window_updates_turn_on_flow_control() {
    let (mut peer, _conn, mut incoming) = pair();
    peer.send(Frame::WindowUpdate {
        stream_id: 0,
        delta: 1 << 20,
    })
    .await;
    peer.open(1, "stdout").await;
    let stream = incoming.recv().await.unwrap();
    let writer = stream.writer.clone();
    tokio::spawn(async move { writer.write(&vec![1u8; 100_000]).await.unwrap() });
    // Exactly the initial stream window, then nothing until it grows.
    assert_eq!(peer.data_total(1).await, 65536);
    peer.send(Frame::WindowUpdate {
        stream_id: 1,
        delta: 50_000,
    })
    .await;
    assert_eq!(peer.data_total(1).await, 100_000 - 65536);
}

#[tokio::test]
async fn consumed_data_is_acknowledged_and_fin_ends_the_stream() {
    let (mut peer, _conn, mut incoming) = pair();
    peer.open(3, "stdin").await;
    let mut stream = incoming.recv().await.unwrap();
    peer.send(Frame::Data {
        stream_id: 3,
        flags: FLAG_FIN,
        data: Bytes::from_static(b"abc"),
    })
    .await;
    assert_eq!(stream.reader.read().await.as_deref(), Some(&b"abc"[..]));
    assert_eq!(stream.reader.read().await, None);
    let mut updates = Vec::new();
    while let Some(f) = peer.next().await {
        if let Frame::WindowUpdate { stream_id, delta } = f {
            updates.push((stream_id, delta));
        }
    }
    assert_eq!(updates, vec![(3, 3), (0, 3)]);
}

#[tokio::test]
async fn an_unread_stream_holds_back_the_connection_until_read() {
    let (mut peer, _conn, mut incoming) = pair();
    peer.open(1, "stdin").await;
    let mut stream = incoming.recv().await.unwrap();
    let chunk = Bytes::from(vec![0u8; 256 * 1024]);
    for _ in 0..8 {
        peer.send(Frame::Data {
            stream_id: 1,
            flags: 0,
            data: chunk.clone(),
        })
        .await;
    }
    peer.send(Frame::Ping { id: 9 }).await;
    // Over the high-water mark: the PING behind the data waits.
    let mut frames = Vec::new();
    while let Some(f) = peer.next().await {
        frames.push(f);
    }
    assert!(!frames.contains(&Frame::Ping { id: 9 }), "{frames:?}");
    // Reading the stream lets the connection go on; nothing was lost.
    let mut total = 0;
    while total < 8 * chunk.len() {
        total += stream.reader.read().await.unwrap().len();
    }
    let mut pinged = false;
    while let Some(f) = peer.next().await {
        pinged |= f == Frame::Ping { id: 9 };
    }
    assert!(pinged);
}

#[tokio::test]
async fn pings_are_echoed_and_shutdown_sends_goaway() {
    let (mut peer, conn, _incoming) = pair();
    peer.send(Frame::Ping { id: 5 }).await;
    assert_eq!(peer.next().await, Some(Frame::Ping { id: 5 }));
    conn.shutdown().await;
    assert!(matches!(peer.next().await, Some(Frame::GoAway { .. })));
}

#[tokio::test]
async fn peer_hangup_closes_the_connection_and_fails_writes() {
    let (peer, conn, mut incoming) = pair();
    drop(peer);
    tokio::time::timeout(Duration::from_secs(5), conn.closed())
        .await
        .unwrap();
    assert!(incoming.recv().await.is_none());
}
