//! The crate's own WebSocket client (`cradle_streaming::client`, what
//! `cradlectl exec -i/-t` speaks) against the server with the fake backend:
//! exit codes and separate stdout/stderr, stdin sent to its end (v5 close),
//! the terminal size on the resize channel, TLS checked against a CA file
//! (and refused without one), a failed command and a spent token as errors.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod streaming_support;

use cradle_streaming::client::{ClientError, remote_command};
use cradle_streaming::{BoxedWriter, StreamIo, TerminalSize};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use streaming_support::*;

/// An output collecting what is written to it.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<u8>>>);

impl Collect {
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }

    fn writer(&self) -> Option<BoxedWriter> {
        Some(Box::new(self.clone()))
    }
}

impl tokio::io::AsyncWrite for Collect {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Runs the session behind `url` with a bound, so a hang fails the test.
async fn run(url: &str, io: StreamIo, ca: Option<&std::path::Path>) -> Result<i32, ClientError> {
    tokio::time::timeout(Duration::from_secs(30), remote_command(url, io, ca))
        .await
        .expect("the session ended in time")
}

#[tokio::test]
async fn exit_codes_and_separate_output_streams() {
    let (server, _) = server(None).await;
    for (script, want) in [
        ("echo out; echo err >&2", 0),
        ("echo out; echo err >&2; exit 42", 42),
    ] {
        let url = server
            .get_exec_url(&exec_req(&["sh", "-c", script], false, false))
            .unwrap();
        let (out, err) = (Collect::default(), Collect::default());
        let io = StreamIo {
            stdout: out.writer(),
            stderr: err.writer(),
            ..Default::default()
        };
        assert_eq!(run(&url, io, None).await.unwrap(), want, "{script}");
        assert_eq!(out.bytes(), b"out\n");
        assert_eq!(err.bytes(), b"err\n");
    }
}

#[tokio::test]
async fn stdin_is_sent_to_its_end_and_closed() {
    let (server, _) = server(None).await;
    let url = server
        .get_exec_url(&exec_req(&["sh", "-c", "cat; exit 3"], true, false))
        .unwrap();
    // More than the pipes hold, so backpressure is crossed both ways.
    let input: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_be_bytes()).collect();
    let out = Collect::default();
    let io = StreamIo {
        stdin: Some(Box::new(std::io::Cursor::new(input.clone()))),
        stdout: out.writer(),
        stderr: Collect::default().writer(),
        ..Default::default()
    };
    assert_eq!(run(&url, io, None).await.unwrap(), 3);
    assert!(
        out.bytes() == input,
        "{} of {} bytes",
        out.bytes().len(),
        input.len()
    );
}

#[tokio::test]
async fn the_terminal_size_goes_on_the_resize_channel() {
    let (server, _) = server(None).await;
    let url = server
        .get_exec_url(&exec_req(&["true"], false, true))
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(TerminalSize {
        width: 132,
        height: 43,
    })
    .await
    .unwrap();
    let out = Collect::default();
    let io = StreamIo {
        stdout: out.writer(),
        resize: Some(rx),
        ..Default::default()
    };
    assert_eq!(run(&url, io, None).await.unwrap(), 0);
    // The fake backend prints the first size as `stty size` does.
    assert_eq!(out.bytes(), b"43 132\n");
}

#[tokio::test]
async fn tls_is_checked_against_the_given_ca_and_needs_one() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let files = cradle_streaming::TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    std::fs::write(&files.cert, ck.cert.pem()).unwrap();
    std::fs::write(&files.key, ck.signing_key.serialize_pem()).unwrap();
    let config = cradle_streaming::StreamingConfig {
        tls: Some(files.clone()),
        ..Default::default()
    };
    let (server, _) = server_with(config, None).await;
    let exec = || {
        server
            .get_exec_url(&exec_req(
                &["sh", "-c", "echo secure; exit 5"],
                false,
                false,
            ))
            .unwrap()
    };
    let url = exec();
    assert!(url.starts_with("https://"), "{url}");
    let out = Collect::default();
    let io = StreamIo {
        stdout: out.writer(),
        ..Default::default()
    };
    assert_eq!(run(&url, io, Some(&files.cert)).await.unwrap(), 5);
    assert_eq!(out.bytes(), b"secure\n");

    let missing = run(&exec(), StreamIo::default(), None).await;
    assert!(
        matches!(missing, Err(ClientError::TlsCaMissing { .. })),
        "{missing:?}"
    );
    // Another certificate is no CA of this one.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let other_pem = dir.path().join("other.pem");
    std::fs::write(&other_pem, other.cert.pem()).unwrap();
    let untrusted = run(&exec(), StreamIo::default(), Some(&other_pem)).await;
    assert!(
        matches!(untrusted, Err(ClientError::Tls(_))),
        "{untrusted:?}"
    );
}

#[tokio::test]
async fn a_failed_command_and_a_spent_token_are_errors() {
    let (server, _) = server(None).await;
    let url = server
        .get_exec_url(&exec_req(&["/no/such/program"], false, false))
        .unwrap();
    let io = StreamIo {
        stdout: Collect::default().writer(),
        stderr: Collect::default().writer(),
        ..Default::default()
    };
    let failed = run(&url, io, None).await;
    assert!(matches!(failed, Err(ClientError::Remote(_))), "{failed:?}");
    // The token was redeemed by the first connection.
    let spent = run(&url, StreamIo::default(), None).await;
    assert!(matches!(spent, Err(ClientError::Handshake(_))), "{spent:?}");
}
