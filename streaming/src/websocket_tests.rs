//! Tests of the WebSocket sessions' idle timeout, with a client on the
//! other end of an in-memory pipe.

use super::*;
use crate::error::StreamError;
use crate::request::{AttachRequest, ExecRequest};
use std::sync::atomic::AtomicUsize;
use tokio::time::Instant;

/// A backend whose sessions run until cancelled, counting cancellations.
#[derive(Default)]
struct Forever {
    cancelled: Arc<AtomicUsize>,
}

/// Counts a cancellation when dropped (the backend's future was dropped).
struct OnDrop(Arc<AtomicUsize>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl StreamingBackend for Forever {
    async fn exec(&self, _: ExecRequest, _: StreamIo) -> Result<i32, StreamError> {
        let _guard = OnDrop(self.cancelled.clone());
        std::future::pending().await
    }

    async fn attach(&self, _: AttachRequest, _: StreamIo) -> Result<(), StreamError> {
        let _guard = OnDrop(self.cancelled.clone());
        std::future::pending().await
    }

    async fn port_forward(&self, _: &str, _: u16) -> Result<tokio::net::TcpStream, StreamError> {
        std::future::pending().await
    }
}

fn attach_command() -> Command {
    Command::Attach(AttachRequest {
        container_id: "c".into(),
        tty: false,
        stdin: true,
        stdout: true,
        stderr: false,
    })
}

/// The Close frame's reason the client gets, and when.
async fn close_reason(client: tokio::io::DuplexStream) -> (String, Instant) {
    let mut ws = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => {
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                return (reason, Instant::now());
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("no Close frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_idle_websocket_session_is_closed_and_its_backend_cancelled() {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let backend = Forever::default();
    let cancelled = backend.cancelled.clone();
    let started = Instant::now();
    let idle = Some(Duration::from_millis(200));
    let server = exec(
        server_io,
        Some("v5.channel.k8s.io".into()),
        attach_command(),
        idle,
        &backend,
    );
    let ((reason, at), ()) = tokio::join!(close_reason(client_io), server);
    assert!(reason.contains("idle"), "{reason:?}");
    assert!(at - started >= Duration::from_millis(200));
    assert_eq!(cancelled.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn client_messages_keep_a_websocket_session_open() {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let backend = Forever::default();
    let idle = Some(Duration::from_millis(200));
    let client = async move {
        let mut ws = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            ws.send(Message::binary(vec![STDIN, b'x'])).await.unwrap();
        }
        // 600 ms of typing with a 200 ms limit: still open; now go quiet.
        let started = Instant::now();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(Message::Close(_)))) => return started.elapsed(),
                Ok(Some(Ok(_))) => continue,
                other => panic!("no Close frame: {other:?}"),
            }
        }
    };
    let server = exec(
        server_io,
        Some("v5.channel.k8s.io".into()),
        attach_command(),
        idle,
        &backend,
    );
    let (quiet_for, ()) = tokio::join!(client, server);
    assert!(quiet_for >= Duration::from_millis(150), "{quiet_for:?}");
}

/// Found by fuzzing (`fuzz/`, target websocket_channel): a base64 text
/// message whose first character is more than one byte long panicked the
/// session's reader (slicing off the channel digit split the character).
#[test]
fn base64_text_opening_with_a_multibyte_character_is_ignored() {
    assert_eq!(decode_message(true, Message::text("é0aGk=")), None);
    assert_eq!(decode_message(true, Message::text("\u{10348}")), None);
    assert_eq!(
        decode_message(true, Message::text("0aGk=")),
        Some((0, Bytes::from_static(b"hi")))
    );
}

/// Found by fuzzing: in a base64 session the channel digit of port index
/// 40 and up is no ASCII character (and overflows from 104; in binary
/// framing past 127 ports the channel byte wraps). Such a session is
/// refused with a Close frame that says why, before any port is opened.
#[tokio::test]
async fn more_ports_than_a_session_can_number_are_refused() {
    for (protocol, ports) in [
        ("v4.base64.channel.k8s.io", 41),
        ("portforward.k8s.io", 128),
    ] {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let backend = Arc::new(Forever::default());
        let target = ("pod".to_string(), (1..=ports).collect::<Vec<u16>>());
        let server = portforward(server_io, Some(protocol.into()), target, None, backend);
        let ((reason, _), ()) = tokio::join!(close_reason(client_io), server);
        assert!(reason.contains("at most"), "{protocol}: {reason:?}");
    }
    assert_eq!(Framing { base64: true }.max_ports(), 39);
    assert_eq!(Framing { base64: false }.max_ports(), 127);
}
