//! The port-forward volume case of the streaming end-to-end test: 100 MiB
//! through an echo server (`nc -ll -p PORT -e cat`) in a real pod, once over
//! SPDY (Go client) and once over WebSocket (Python client). Each client
//! sends while it reads and reports the byte count and SHA-256 of what it
//! sent and of what came back; both directions must match exactly.

use anyhow::{bail, ensure};

use super::{args, client, forward_url, text};
use crate::client::Cri;
use std::path::Path;

/// 100 MiB.
pub const VOLUME: usize = 100 << 20;

/// Moves [`VOLUME`] bytes each way through `port` of `pod_id` with both
/// clients; the echo server must already answer (see the basic forward case).
pub async fn forward_100_mib(
    cri: &mut Cri,
    pod_id: &str,
    port: u16,
    spdy: &Path,
    ws: &Path,
) -> anyhow::Result<()> {
    let size = VOLUME.to_string();
    let url = forward_url(cri, pod_id, i32::from(port)).await?;
    let out = client(
        spdy.to_path_buf(),
        args(&[
            "portforward",
            &url,
            "-port",
            &port.to_string(),
            "-size",
            &size,
            "-report",
        ]),
        vec![],
    )
    .await?;
    ensure!(
        out.status.success(),
        "SPDY port-forward of 100 MiB: {out:?} {}",
        text(&out.stderr)
    );
    let report = text(&out.stdout);
    let Some(line) = report.lines().find(|l| l.starts_with("conn 0 ")) else {
        bail!("SPDY client reported {report:?}");
    };
    check_both_ways(line, "SPDY")?;

    let url = forward_url(cri, pod_id, i32::from(port)).await?;
    let argv = vec![
        ws.display().to_string(),
        "portforward".into(),
        url,
        port.to_string(),
        size,
        "--report".into(),
    ];
    let out = client("python3".into(), argv, vec![]).await?;
    ensure!(
        out.status.success(),
        "WebSocket port-forward of 100 MiB: {out:?} {}",
        text(&out.stderr)
    );
    check_both_ways(text(&out.stdout).trim(), "WebSocket")
}

/// `... sent N sha256 H received N sha256 H`: counts of VOLUME, equal hashes.
fn check_both_ways(line: &str, transport: &str) -> anyhow::Result<()> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let field = |name: &str, offset: usize| {
        words
            .iter()
            .position(|w| *w == name)
            .and_then(|i| words.get(i + offset))
            .copied()
    };
    let (Some(sent), Some(sent_hash), Some(received), Some(received_hash)) = (
        field("sent", 1),
        field("sent", 3),
        field("received", 1),
        field("received", 3),
    ) else {
        bail!("{transport} client reported {line:?}");
    };
    let volume = VOLUME.to_string();
    ensure!(
        sent == volume && received == volume,
        "{transport}: sent {sent}, received {received}, want {volume} each"
    );
    ensure!(
        sent_hash == received_hash && sent_hash.len() == 64,
        "{transport}: sha256 sent {sent_hash} received {received_hash}"
    );
    Ok(())
}
