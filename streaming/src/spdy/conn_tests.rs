//! Tests of the SPDY server connection, speaking frames from the client side.

use super::*;
use crate::spdy::headers;
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
        self.open_with(id, &[("streamtype", stream_type)]).await;
    }

    async fn open_with(&mut self, id: u32, headers: &[(&str, &str)]) {
        let list: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let header_block = self.compressor.compress(&list).unwrap();
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

/// No pings, no idle limit: the frames the tests expect and nothing else.
const QUIET: SessionTimeouts = SessionTimeouts {
    idle: None,
    creation: Duration::from_secs(30),
    ping: None,
};

fn pair() -> (Peer, Connection, mpsc::UnboundedReceiver<IncomingStream>) {
    pair_with(QUIET)
}

fn pair_with(
    timeouts: SessionTimeouts,
) -> (Peer, Connection, mpsc::UnboundedReceiver<IncomingStream>) {
    let (a, b) = tokio::io::duplex(1 << 20);
    let (conn, incoming) = serve(b, timeouts);
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

#[tokio::test]
async fn the_server_pings_with_even_ids_and_still_echoes_client_pings() {
    let (mut peer, _conn, _incoming) = pair_with(SessionTimeouts {
        ping: Some(Duration::from_millis(50)),
        ..QUIET
    });
    let mut server_pings = Vec::new();
    while server_pings.len() < 2 {
        match peer.next().await {
            Some(Frame::Ping { id }) => server_pings.push(id),
            other => panic!("expected a server PING, got {other:?}"),
        }
    }
    assert_eq!(server_pings, vec![2, 4]);
    peer.send(Frame::Ping { id: 7 }).await;
    let mut echoed = false;
    for _ in 0..5 {
        echoed |= peer.next().await == Some(Frame::Ping { id: 7 });
    }
    assert!(echoed, "the client's PING was not answered");
}

#[tokio::test]
async fn an_idle_session_is_closed_with_goaway_even_if_the_client_answers_our_pings() {
    let (mut peer, conn, _incoming) = pair_with(SessionTimeouts {
        idle: Some(Duration::from_millis(300)),
        ping: Some(Duration::from_millis(50)),
        ..QUIET
    });
    let started = Instant::now();
    let mut goaway = false;
    while let Some(f) = peer.next().await {
        match f {
            // Answer like spdystream; this is not the client's activity.
            Frame::Ping { id } => peer.send(Frame::Ping { id }).await,
            Frame::GoAway { .. } => {
                goaway = true;
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never closed");
    }
    assert!(goaway);
    assert!(started.elapsed() >= Duration::from_millis(300));
    tokio::time::timeout(Duration::from_secs(2), conn.closed())
        .await
        .unwrap();
}

#[tokio::test]
async fn client_traffic_keeps_a_session_open_past_the_idle_timeout() {
    let (mut peer, conn, _incoming) = pair_with(SessionTimeouts {
        idle: Some(Duration::from_millis(400)),
        ..QUIET
    });
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peer.send(Frame::Ping { id: 1 }).await;
    }
    // 800 ms in, with a client PING every 100 ms: still open.
    let closed = tokio::time::timeout(Duration::from_millis(50), conn.closed()).await;
    assert!(closed.is_err(), "closed although the client was active");
}

#[tokio::test]
async fn an_exec_whose_streams_never_arrive_gets_the_reason_on_its_error_stream() {
    use crate::remotecommand::Command;
    use crate::request::ExecRequest;
    let (mut peer, conn, incoming) = pair();
    peer.open(1, "error").await;
    let session = super::super::exec::Session {
        protocol: "v4.channel.k8s.io",
        command: Command::Exec(ExecRequest {
            container_id: "c".into(),
            cmd: vec!["true".into()],
            tty: false,
            stdin: false,
            stdout: true,
            stderr: true,
        }),
        creation_timeout: Duration::from_millis(50),
    };
    let served = tokio::spawn(async move {
        super::super::exec::serve(conn, incoming, session, &NeverRuns).await;
    });
    let mut error_text = Vec::new();
    let mut goaway = false;
    while let Some(f) = peer.next().await {
        match f {
            Frame::Data {
                stream_id: 1, data, ..
            } => error_text.extend_from_slice(&data),
            Frame::GoAway { .. } => goaway = true,
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(&error_text);
    assert!(
        text.contains("timed out waiting for the client to create streams"),
        "{text}"
    );
    assert!(text.contains("\"status\":\"Failure\""), "{text}");
    assert!(goaway);
    tokio::time::timeout(Duration::from_secs(3), served)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_port_forward_pair_missing_its_data_stream_is_dropped_with_the_reason() {
    let (mut peer, conn, incoming) = pair();
    peer.open_with(
        1,
        &[("streamtype", "error"), ("port", "80"), ("requestid", "0")],
    )
    .await;
    let target = super::super::portforward::Target {
        sandbox_id: "pod".into(),
        allowed: vec![],
        creation_timeout: Duration::from_millis(50),
    };
    tokio::spawn(super::super::portforward::serve(
        conn,
        incoming,
        target,
        std::sync::Arc::new(NeverRuns),
    ));
    let mut error_text = Vec::new();
    let mut fin = false;
    while let Some(f) = peer.next().await {
        if let Frame::Data {
            stream_id: 1,
            data,
            flags,
        } = f
        {
            error_text.extend_from_slice(&data);
            fin |= flags & FLAG_FIN != 0;
        }
    }
    let text = String::from_utf8_lossy(&error_text);
    assert!(
        text.contains("timed out waiting for the data stream"),
        "{text}"
    );
    assert!(fin, "the error stream was not closed");
}

/// A backend the timeout tests must never reach.
struct NeverRuns;

impl crate::backend::StreamingBackend for NeverRuns {
    async fn exec(
        &self,
        _: crate::request::ExecRequest,
        _: crate::backend::StreamIo,
    ) -> Result<i32, crate::error::StreamError> {
        panic!("exec ran although its streams never came")
    }

    async fn attach(
        &self,
        _: crate::request::AttachRequest,
        _: crate::backend::StreamIo,
    ) -> Result<(), crate::error::StreamError> {
        panic!("attach ran although its streams never came")
    }

    async fn port_forward(
        &self,
        _: &str,
        _: u16,
    ) -> Result<tokio::net::TcpStream, crate::error::StreamError> {
        panic!("port-forward connected although its pair never completed")
    }
}
