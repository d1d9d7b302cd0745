//! A lab: a throwaway host namespace with a config dir, bin dir, cache dir
//! and IPAM data dir of its own, and a client for it.

use super::{Netns, bin_dir, ipam_files, unique};
use cradle_cni::{CniNetwork, PodNetwork};
use std::path::PathBuf;

pub struct Lab {
    pub host: Netns,
    pub bridge: String,
    pub subnet: String,
    pub gateway: String,
    pub conf_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub data_dir: PathBuf,
    pub bin: PathBuf,
    pub tmp: tempfile::TempDir,
}

impl Lab {
    /// `octet` picks the pod subnet 10.244.<octet>.0/24.
    pub fn new(octet: u8, plugins: &[&str]) -> Lab {
        let tmp = tempfile::tempdir().unwrap();
        let bin = bin_dir(tmp.path(), plugins);
        let lab = Lab {
            host: Netns::new(),
            bridge: unique("crbt"),
            subnet: format!("10.244.{octet}.0/24"),
            gateway: format!("10.244.{octet}.1"),
            conf_dir: tmp.path().join("net.d"),
            cache_dir: tmp.path().join("cache"),
            data_dir: tmp.path().join("ipam"),
            bin,
            tmp,
        };
        std::fs::create_dir_all(&lab.conf_dir).unwrap();
        lab
    }

    /// The IPAM section every config of the lab uses.
    pub fn ipam(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "host-local",
            "ranges": [[{"subnet": self.subnet}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": self.data_dir,
        })
    }

    /// Writes `10-test.conflist`.
    pub fn write_conflist(&self, version: &str, name: &str, plugins: serde_json::Value) {
        let list = serde_json::json!({"cniVersion": version, "name": name, "plugins": plugins});
        std::fs::write(self.conf_dir.join("10-test.conflist"), list.to_string()).unwrap();
    }

    /// A fresh client from the directory, as the daemon would load one.
    pub fn client(&self) -> CniNetwork {
        CniNetwork::load(
            &self.conf_dir,
            std::slice::from_ref(&self.bin),
            &self.cache_dir,
        )
        .unwrap()
        .expect("a valid config")
    }

    pub fn pod(&self, netns: &Netns) -> PodNetwork {
        let mut pod = PodNetwork::new(format!("{:0>64}", netns.name), &netns.path);
        pod.pod_name = netns.name.clone();
        pod.pod_namespace = "default".into();
        pod.pod_uid = format!("uid-{}", netns.name);
        pod
    }

    /// Links in the lab host other than loopback and the bridge.
    pub fn host_ports(&self) -> Vec<String> {
        self.host
            .links()
            .into_iter()
            .filter(|l| l != "lo" && *l != self.bridge)
            .collect()
    }

    /// Nothing of any pod left: no veth, no IP allocation, no cache entry.
    pub fn assert_clean(&self) {
        assert_eq!(
            self.host_ports(),
            Vec::<String>::new(),
            "veths left in the lab host"
        );
        assert_eq!(
            ipam_files(&self.data_dir),
            Vec::<PathBuf>::new(),
            "IP allocations left"
        );
        let cached: Vec<_> = std::fs::read_dir(self.cache_dir.join("results"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(cached.is_empty(), "cache entries left: {cached:?}");
    }
}
