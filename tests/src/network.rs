//! A CNI network of a test's own: cradle-bridge on a bridge and a /24 no
//! route of the host uses, host-local IPAM in a dir of its own, loopback and
//! Debian's portmap. Its bridge is deleted on drop, even when the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::names::random_suffix;

/// The test's bridge, deleted on drop.
pub struct Bridge(pub String);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.0])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// What the test's network is made of.
pub struct TestNetwork {
    /// The CNI network's name (in the conflist and the result cache).
    pub name: String,
    /// The host bridge the pods attach to.
    pub bridge: Bridge,
    /// `10.<n>.<m>.`: the pods' addresses start with it.
    pub subnet_prefix: String,
    /// host-local's data dir: one file per allocated address.
    pub ipam_dir: PathBuf,
    kind: String,
    bins: tempfile::TempDir,
}

impl TestNetwork {
    /// Network `<kind>-<suffix>` on bridge `cr<tag><suffix>`, with a /24 of
    /// `10.<second_octet>.0.0/16` that no route of the host uses (suites
    /// that may run at once pick different second octets).
    pub fn new(kind: &str, tag: &str, second_octet: u8) -> anyhow::Result<TestNetwork> {
        let routes =
            String::from_utf8_lossy(&Command::new("ip").args(["-4", "route"]).output()?.stdout)
                .into_owned();
        let third = (0..50)
            .map(|_| rand::random::<u8>())
            .find(|n| !routes.contains(&format!("10.{second_octet}.{n}.")))
            .with_context(|| format!("no free 10.{second_octet}.x.0/24"))?;
        let bins = tempfile::Builder::new().prefix("cni-bin-").tempdir()?;
        let bridge_bin = crate::paths::target_bin_dir()?.join("cradle-bridge");
        std::os::unix::fs::symlink(&bridge_bin, bins.path().join("cradle-bridge"))?;
        let suffix = random_suffix();
        Ok(TestNetwork {
            name: format!("{kind}-{suffix}"),
            bridge: Bridge(format!("cr{tag}{suffix}")),
            subnet_prefix: format!("10.{second_octet}.{third}."),
            ipam_dir: bins.path().join("ipam"),
            kind: kind.to_string(),
            bins,
        })
    }

    /// The daemon's config: cradle-bridge from the test's dir, the rest
    /// from Debian's.
    pub fn daemon_config(&self) -> String {
        format!(
            "cni_bin_dirs = [{:?}, \"/usr/lib/cni\"]\n",
            self.bins.path().display().to_string()
        )
    }

    /// Writes the conflist (cniVersion 1.0.0, as the default one) into
    /// `conf_dir`; `bridge_options` (e.g. `ipMasq`, `hairpinMode`) go into
    /// the cradle-bridge entry.
    pub fn write_conflist(
        &self,
        conf_dir: &Path,
        bridge_options: serde_json::Value,
    ) -> anyhow::Result<()> {
        let subnet = format!("{}0/24", self.subnet_prefix);
        let mut bridge = serde_json::json!({
            "type": "cradle-bridge",
            "bridge": self.bridge.0,
            "isGateway": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": subnet}]],
                "routes": [{"dst": subnet}],
                "dataDir": self.ipam_dir,
            }
        });
        if let (Some(entry), Some(options)) = (bridge.as_object_mut(), bridge_options.as_object()) {
            entry.extend(options.clone());
        }
        let list = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": self.name,
            "plugins": [
                {"type": "loopback"},
                bridge,
                {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
            ]
        });
        let file = conf_dir.join(format!("10-{}.conflist", self.kind));
        std::fs::write(file, list.to_string())?;
        Ok(())
    }
}
