//! The streaming server driven by an independent WebSocket client (Python's
//! websocket-client, tests/clients/ws_client.py), plus the HTTP-level answers
//! for bad tokens and missing upgrades.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

mod streaming_support;

use std::process::Stdio;
use std::time::Duration;
use streaming_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// Runs the Python WebSocket client; returns (exit code, stdout, stderr).
async fn run(script: &std::path::Path, args: &[&str], stdin: &[u8]) -> (i32, Vec<u8>, String) {
    let mut argv = vec![script.as_os_str()];
    argv.extend(args.iter().map(std::ffi::OsStr::new));
    run_client("python3".as_ref(), &argv, stdin).await
}

#[tokio::test]
async fn websocket_exec_exit_codes_across_subprotocols() {
    let Some(client) = ws_client() else { return };
    let (server, _) = server(None).await;
    for protocol in [
        "v5.channel.k8s.io",
        "v4.channel.k8s.io",
        "base64.channel.k8s.io",
        "channel.k8s.io",
    ] {
        for (script, want) in [("echo hi", 0), ("echo hi; exit 42", 42)] {
            let url = server
                .get_exec_url(&exec_req(&["sh", "-c", script], false, false))
                .unwrap();
            let (code, out, err) = run(&client, &["exec", &url, protocol], b"").await;
            assert_eq!(out, b"hi\n", "{protocol}: {err}");
            let json = protocol.starts_with('v');
            match (want, json) {
                (0, _) => assert_eq!(code, 0, "{protocol}: {err}"),
                (_, true) => {
                    assert_eq!(code, 42, "{protocol}: {err}");
                    assert!(err.contains(r#""reason":"NonZeroExitCode""#), "{err}");
                }
                (_, false) => {
                    assert_eq!(code, 1, "{protocol}: {err}");
                    assert!(err.contains("non-zero exit code: exit status 42"), "{err}");
                }
            }
        }
    }
}

#[tokio::test]
async fn websocket_v5_stdin_round_trips_and_close_ends_stdin() {
    let Some(client) = ws_client() else { return };
    let (server, _) = server(None).await;
    let url = server
        .get_exec_url(&exec_req(&["sh", "-c", "cat; exit 3"], true, false))
        .unwrap();
    let input: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_be_bytes()).collect();
    let (code, out, err) = run(
        &client,
        &["exec", &url, "v5.channel.k8s.io", "--stdin"],
        &input,
    )
    .await;
    assert_eq!(code, 3, "{err}");
    assert!(
        out == input,
        "echo differs: {} of {} bytes",
        out.len(),
        input.len()
    );
}

#[tokio::test]
async fn websocket_portforward_echoes_mebibytes() {
    if !is_root() {
        cradle_testkit::skip("port-forward into a netns needs root");
        return;
    }
    let Some(client) = ws_client() else { return };
    let ns = Netns::new();
    let port = ns.echo_server();
    let (server, _) = server(Some(ns.path.clone())).await;
    let url = server
        .get_portforward_url(&cradle_streaming::PortForwardRequest {
            pod_sandbox_id: "p1".into(),
            port: vec![port.into()],
        })
        .unwrap();
    let (code, out, err) = run(
        &client,
        &["portforward", &url, &port.to_string(), "3145728"],
        b"",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"ok\n");
}

/// A raw HTTP/1.1 request; returns the status line and body.
async fn http(addr: std::net::SocketAddr, path: &str, upgrade: Option<&str>) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    if let Some(u) = upgrade {
        req += &format!(
            "Connection: Upgrade\r\nUpgrade: {u}\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n"
        );
    }
    req += "\r\n";
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn tokens_are_single_use_and_unknown_ones_are_404() {
    let (server, _) = server(None).await;
    let url = server
        .get_exec_url(&exec_req(&["true"], false, false))
        .unwrap();
    let path = url
        .split_once(&server.addr().to_string())
        .unwrap()
        .1
        .to_string();
    assert!(path.starts_with("/exec/"));
    let first = http(server.addr(), &path, Some("SPDY/3.1")).await;
    assert!(first.starts_with("HTTP/1.1 101"), "{first}");
    assert!(
        first.contains("x-stream-protocol-version: v4.channel.k8s.io"),
        "{first}"
    );
    let second = http(server.addr(), &path, Some("SPDY/3.1")).await;
    assert!(second.starts_with("HTTP/1.1 410"), "{second}");
    let unknown = http(server.addr(), "/exec/0123456789abcdef", Some("websocket")).await;
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    // The token of an exec does not open an attach.
    let url = server
        .get_exec_url(&exec_req(&["true"], false, false))
        .unwrap();
    let token = url.rsplit('/').next().unwrap();
    let wrong = http(
        server.addr(),
        &format!("/attach/{token}"),
        Some("websocket"),
    )
    .await;
    assert!(wrong.starts_with("HTTP/1.1 404"), "{wrong}");
}

#[tokio::test]
async fn requests_without_upgrade_are_refused_and_keep_the_token() {
    let (server, _) = server(None).await;
    let url = server
        .get_exec_url(&exec_req(&["true"], false, false))
        .unwrap();
    let path = url
        .split_once(&server.addr().to_string())
        .unwrap()
        .1
        .to_string();
    let plain = http(server.addr(), &path, None).await;
    assert!(plain.starts_with("HTTP/1.1 400"), "{plain}");
    let ws = http(server.addr(), &path, Some("websocket")).await;
    assert!(ws.starts_with("HTTP/1.1 101"), "{ws}");
    assert!(
        ws.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{ws}"
    );
}

#[tokio::test]
async fn invalid_cri_requests_get_no_url() {
    let (server, _) = server(None).await;
    let mut req = exec_req(&["true"], false, true);
    req.stderr = true;
    assert!(server.get_exec_url(&req).is_err(), "tty with stderr");
    req = exec_req(&[], false, false);
    assert!(server.get_exec_url(&req).is_err(), "empty cmd");
    req = exec_req(&["true"], false, false);
    req.stdout = false;
    req.stderr = false;
    assert!(server.get_exec_url(&req).is_err(), "no streams");
    let pf = cradle_streaming::PortForwardRequest {
        pod_sandbox_id: String::new(),
        port: vec![],
    };
    assert!(server.get_portforward_url(&pf).is_err());
}

#[tokio::test]
async fn websocket_tty_resize_reaches_the_backend() {
    let Some(client) = ws_client() else { return };
    let (server, _) = server(None).await;
    let url = server
        .get_exec_url(&exec_req(&["echo", "done"], false, true))
        .unwrap();
    let args = ["exec", &url, "v5.channel.k8s.io", "--resize", "120x33"];
    let (code, out, err) = run(&client, &args, b"").await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(String::from_utf8_lossy(&out), "33 120\ndone\n");
}

#[tokio::test]
async fn websocket_attach_echoes_stdin() {
    let Some(client) = ws_client() else { return };
    let (server, _) = server(None).await;
    let url = server
        .get_attach_url(&cradle_streaming::AttachRequest {
            container_id: "c1".into(),
            stdin: true,
            tty: false,
            stdout: true,
            stderr: false,
        })
        .unwrap();
    let args = ["exec", &url, "v5.channel.k8s.io", "--stdin"];
    let (code, out, err) = run(&client, &args, b"attached\n").await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"attached\n");
}

#[tokio::test]
async fn websocket_portforward_to_a_closed_port_reports_on_the_error_channel() {
    if !is_root() {
        cradle_testkit::skip("port-forward into a netns needs root");
        return;
    }
    let Some(client) = ws_client() else { return };
    let ns = Netns::new();
    let (server, _) = server(Some(ns.path.clone())).await;
    let url = server
        .get_portforward_url(&cradle_streaming::PortForwardRequest {
            pod_sandbox_id: "p1".into(),
            port: vec![7],
        })
        .unwrap();
    let (code, _, err) = run(&client, &["portforward", &url, "7", "10"], b"").await;
    assert_eq!(code, 1);
    assert!(err.contains("error forwarding port 7 to pod p1"), "{err}");
}

#[tokio::test]
async fn websocket_client_dropped_mid_stream_cancels_and_reaps_the_process() {
    let Some(client) = ws_client() else { return };
    let (server, seen) = server(None).await;
    let url = server
        .get_exec_url(&exec_req(
            &["sh", "-c", "echo started; exec sleep 30"],
            false,
            false,
        ))
        .unwrap();
    let mut child = Command::new("python3")
        .args([client.to_str().unwrap(), "exec", &url, "v4.channel.k8s.io"])
        .env("PYTHONUNBUFFERED", "1")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 8];
    stdout.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"started\n");
    child.kill().await.unwrap();
    let pid = seen.pids.lock().unwrap()[0];
    let mut gone = false;
    for _ in 0..100 {
        if seen.cancelled.load(std::sync::atomic::Ordering::SeqCst) == 1
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "backend not cancelled or process {pid} not reaped");
}
