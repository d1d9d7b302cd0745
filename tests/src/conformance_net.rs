//! The conformance suites' network: the CNI configuration critest assumes
//! a node has (loopback, cradle-bridge on a bridge and subnet only the suite
//! uses, portmap), and the checks critest makes through it (a pod's IP, an
//! HTTP main page). Traffic stays on the suite's bridge and loopback.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, ensure};
use cradle_proto::cri;
use cradle_tests::random_suffix;

use super::{World, eventually};

/// The test's bridge, deleted on drop (even when the test fails).
pub struct Bridge(pub String);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The suite's CNI network: loopback, cradle-bridge on a bridge and a /24
/// of 10.214.0.0/16 only this suite uses, and Debian's portmap.
pub struct Net {
    pub name: String,
    pub bridge: Bridge,
    pub subnet_prefix: String,
    bins: tempfile::TempDir,
}

impl Net {
    pub(super) fn new() -> anyhow::Result<Net> {
        let out = std::process::Command::new("ip")
            .args(["-4", "route"])
            .output()?;
        let routes = String::from_utf8_lossy(&out.stdout).into_owned();
        let third = (0..50)
            .map(|_| rand::random::<u8>())
            .find(|n| !routes.contains(&format!("10.214.{n}.")))
            .context("no free 10.214.x.0/24")?;
        let bins = tempfile::Builder::new().prefix("cni-bin-").tempdir()?;
        let bridge_bin = cradle_tests::target_bin_dir()?.join("cradle-bridge");
        std::os::unix::fs::symlink(&bridge_bin, bins.path().join("cradle-bridge"))?;
        let suffix = random_suffix();
        Ok(Net {
            name: format!("critest-{suffix}"),
            bridge: Bridge(format!("crct{suffix}")),
            subnet_prefix: format!("10.214.{third}."),
            bins,
        })
    }

    pub(super) fn daemon_config(&self) -> String {
        format!(
            "cni_bin_dirs = [{:?}, \"/usr/lib/cni\"]\n",
            self.bins.path().display().to_string()
        )
    }

    pub(super) fn write_conflist(&self, conf_dir: &Path) -> anyhow::Result<()> {
        let list = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": self.name,
            "plugins": [
                {"type": "loopback"},
                {
                    "type": "cradle-bridge",
                    "bridge": self.bridge.0,
                    "isGateway": true,
                    "ipMasq": false,
                    "hairpinMode": true,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": format!("{}0/24", self.subnet_prefix)}]],
                        "routes": [{"dst": format!("{}0/24", self.subnet_prefix)}],
                        "dataDir": self.bins.path().join("ipam"),
                    }
                },
                {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
            ]
        });
        std::fs::write(conf_dir.join("10-critest.conflist"), list.to_string())?;
        Ok(())
    }
}

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
