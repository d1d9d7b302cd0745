//! The checks critest makes through the conformance suites' network (a
//! pod's IP, an HTTP main page); the network is a
//! [`cradle_tests::network::TestNetwork`], the CNI configuration critest
//! assumes a node has. Traffic stays on the suite's bridge and loopback.

use std::time::Duration;

use anyhow::{Context, ensure};
use cradle_proto::cri;

use super::{World, eventually};

/// The pod's primary IP from PodSandboxStatus (an error when empty).
pub async fn pod_ip(w: &mut World, pod_id: &str) -> anyhow::Result<String> {
    let status = w
        .cri
        .runtime
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod_id.into(),
            verbose: false,
        })
        .await?
        .into_inner()
        .status
        .context("no status")?;
    let ip = status.network.map(|n| n.ip).unwrap_or_default();
    ensure!(!ip.is_empty(), "the pod has no IP");
    Ok(ip)
}

/// `GET /` from `addr` (critest's checkMainPage), retried for up to 30 s;
/// the raw answer.
pub async fn http_get_eventually(addr: &str) -> anyhow::Result<String> {
    let mut answer = String::new();
    eventually(Duration::from_secs(30), async || {
        answer = http_get(addr)?;
        Ok(())
    })
    .await?;
    Ok(answer)
}

fn http_get(addr: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr.parse()?, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    ensure!(!out.is_empty(), "empty answer from {addr}");
    Ok(out)
}
