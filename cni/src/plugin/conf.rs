//! The cradle-bridge configuration (stdin) and environment (`CNI_*`), with
//! the defaults it documents:
//!
//! ```json
//! {"type": "cradle-bridge", "bridge": "cradle0", "isGateway": true,
//!  "isDefaultGateway": true, "ipMasq": false, "hairpinMode": false,
//!  "mtu": 1500,
//!  "ipam": {"type": "host-local", "dataDir": "/var/lib/cni/networks",
//!           "ranges": [[{"subnet": "10.244.0.0/24", "rangeStart": "…",
//!                        "rangeEnd": "…", "gateway": "10.244.0.1"}]],
//!           "routes": [{"dst": "0.0.0.0/0"}]}}
//! ```
//!
//! The IPAM section is host-local's (including the legacy top-level
//! `subnet`/`rangeStart`/`rangeEnd`/`gateway`), served by the plugin itself.

use super::cidr::{Cidr, offset};
use super::error::PluginError;
use crate::types::{Dns, Route};
use serde::Deserialize;
use serde_json::Value;
use std::net::IpAddr;
use std::path::PathBuf;

/// The bridge created when the configuration names none.
pub const DEFAULT_BRIDGE: &str = "cradle0";
/// host-local's default data directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";
const DEFAULT_MTU: u32 = 1500;

/// The plugin's configuration as read from stdin.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BridgeConf {
    /// The spec version the runtime speaks; results and errors answer in it.
    #[serde(default)]
    pub cni_version: String,
    /// The network's name: names the IPAM store and the veth and masquerade rules.
    #[serde(default)]
    pub name: String,
    /// The host bridge the pods attach to.
    #[serde(default = "default_bridge")]
    pub bridge: String,
    /// Give the bridge each range's gateway address and enable forwarding.
    #[serde(default = "yes")]
    pub is_gateway: bool,
    /// Install a default route in the pod via the gateway.
    #[serde(default = "yes")]
    pub is_default_gateway: bool,
    /// Masquerade traffic leaving the pod's subnet.
    #[serde(default)]
    pub ip_masq: bool,
    /// Let a pod reach itself through a service address (hairpin on the host end).
    #[serde(default)]
    pub hairpin_mode: bool,
    /// The MTU of the bridge and both veth ends.
    #[serde(default = "default_mtu")]
    pub mtu: u32,
    /// Where addresses come from.
    #[serde(default)]
    pub ipam: IpamConf,
    /// DNS settings passed through to the result.
    #[serde(default)]
    pub dns: Dns,
    /// The previous plugin's result (chained ADD) or the cached one (CHECK, DEL).
    #[serde(default)]
    pub prev_result: Option<Value>,
    /// The capability arguments the runtime passed.
    #[serde(default)]
    pub runtime_config: RuntimeConfig,
    /// GC: the attachments still in use; everything else is released.
    #[serde(default, rename = "cni.dev/valid-attachments")]
    pub valid_attachments: Vec<ValidAttachment>,
}

fn default_bridge() -> String {
    DEFAULT_BRIDGE.to_string()
}
fn yes() -> bool {
    true
}
fn default_mtu() -> u32 {
    DEFAULT_MTU
}

/// The capability arguments cradle-bridge understands.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RuntimeConfig {
    /// Requested addresses (`10.244.0.9/24` or a bare address).
    #[serde(default)]
    pub ips: Vec<String>,
}

/// One attachment GC must keep.
#[derive(Debug, Clone, Deserialize)]
pub struct ValidAttachment {
    /// The attachment's `CNI_CONTAINERID`.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// The attachment's `CNI_IFNAME`.
    #[serde(default)]
    pub ifname: String,
}

/// host-local's IPAM section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpamConf {
    /// The IPAM plugin named (`host-local`); the plugin serves the section itself.
    #[serde(default, rename = "type")]
    pub ipam_type: String,
    /// Range sets: one address is allocated from each set.
    #[serde(default)]
    pub ranges: Vec<Vec<RangeConf>>,
    /// Legacy single range: its subnet (used when `ranges` is empty).
    #[serde(default)]
    pub subnet: Option<String>,
    /// Legacy single range: its first allocatable address.
    #[serde(default)]
    pub range_start: Option<IpAddr>,
    /// Legacy single range: its last allocatable address.
    #[serde(default)]
    pub range_end: Option<IpAddr>,
    /// Legacy single range: its gateway.
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    /// Routes to install in the pod besides the default one.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Where allocations are stored; host-local's default when absent.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
}

/// One range of a range set, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RangeConf {
    /// The subnet, in CIDR notation.
    pub subnet: String,
    /// The first allocatable address; network + 1 when absent (the gateway is skipped).
    #[serde(default)]
    pub range_start: Option<IpAddr>,
    /// The last allocatable address; the subnet's last (IPv4: before broadcast) when absent.
    #[serde(default)]
    pub range_end: Option<IpAddr>,
    /// The gateway; network + 1 when absent.
    #[serde(default)]
    pub gateway: Option<IpAddr>,
}

/// A validated range: where addresses come from and the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The subnet (network address, prefix).
    pub subnet: Cidr,
    /// The first allocatable address.
    pub start: IpAddr,
    /// The last allocatable address.
    pub end: IpAddr,
    /// The gateway address (never allocated to a pod).
    pub gateway: IpAddr,
}

impl Range {
    /// Applies host-local's defaults: start at network+1 (+2 when that is
    /// the gateway is handled by skipping), end before the IPv4 broadcast
    /// address, gateway network+1.
    pub fn from_conf(conf: &RangeConf) -> Result<Range, PluginError> {
        let subnet = Cidr::parse(&conf.subnet)
            .ok_or_else(|| PluginError::config(format!("invalid subnet {:?}", conf.subnet)))?
            .network();
        let first = offset(subnet.first(), 1)
            .ok_or_else(|| PluginError::config(format!("subnet {subnet} is too small")))?;
        let last = if subnet.addr.is_ipv6() {
            subnet.last()
        } else {
            super::cidr::from_u128(super::cidr::to_u128(subnet.last()).saturating_sub(1), false)
        };
        let start = conf.range_start.unwrap_or(first);
        let end = conf.range_end.unwrap_or(last);
        let gateway = conf.gateway.unwrap_or(first);
        for (what, ip) in [
            ("rangeStart", start),
            ("rangeEnd", end),
            ("gateway", gateway),
        ] {
            if !subnet.contains(ip) {
                return Err(PluginError::config(format!(
                    "{what} {ip} is outside {subnet}"
                )));
            }
        }
        if super::cidr::to_u128(start) > super::cidr::to_u128(end) {
            return Err(PluginError::config(format!(
                "rangeStart {start} is after rangeEnd {end}"
            )));
        }
        Ok(Range {
            subnet,
            start,
            end,
            gateway,
        })
    }
}

impl BridgeConf {
    /// Parses stdin.
    pub fn parse(stdin: &[u8]) -> Result<BridgeConf, PluginError> {
        let conf: BridgeConf = serde_json::from_slice(stdin)
            .map_err(|e| PluginError::decode(format!("invalid configuration: {e}")))?;
        if conf.bridge.is_empty() || conf.bridge.len() > 15 {
            return Err(PluginError::config(format!(
                "invalid bridge name {:?}",
                conf.bridge
            )));
        }
        Ok(conf)
    }

    /// The range sets: one address is allocated from each.
    pub fn range_sets(&self) -> Result<Vec<Vec<Range>>, PluginError> {
        let ipam = &self.ipam;
        let sets: Vec<Vec<RangeConf>> = if !ipam.ranges.is_empty() {
            ipam.ranges.clone()
        } else if let Some(subnet) = &ipam.subnet {
            vec![vec![RangeConf {
                subnet: subnet.clone(),
                range_start: ipam.range_start,
                range_end: ipam.range_end,
                gateway: ipam.gateway,
            }]]
        } else {
            return Err(PluginError::config("ipam needs \"ranges\" or \"subnet\""));
        };
        let sets = sets
            .iter()
            .map(|set| {
                set.iter()
                    .map(Range::from_conf)
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        if sets.iter().any(Vec::is_empty) {
            return Err(PluginError::config("ipam has an empty range set"));
        }
        Ok(sets)
    }

    /// Where allocations of this network live.
    pub fn data_dir(&self) -> PathBuf {
        self.ipam
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
            .join(&self.name)
    }
}

/// The `CNI_*` parameters of one call.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `CNI_COMMAND`: ADD, DEL, CHECK, STATUS, GC or VERSION.
    pub command: String,
    /// `CNI_CONTAINERID`: the attachment's owner.
    pub container_id: String,
    /// `CNI_NETNS`: the pod's network namespace path.
    pub netns: String,
    /// `CNI_IFNAME`: the interface to create in the pod.
    pub ifname: String,
}

impl Env {
    /// Reads the parameters the command needs; missing ones are an error
    /// with the spec's "invalid environment" code.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Env, PluginError> {
        let command = get("CNI_COMMAND").unwrap_or_default();
        let env = Env {
            container_id: get("CNI_CONTAINERID").unwrap_or_default(),
            netns: get("CNI_NETNS").unwrap_or_default(),
            ifname: get("CNI_IFNAME").unwrap_or_default(),
            command,
        };
        let per_container = matches!(env.command.as_str(), "ADD" | "DEL" | "CHECK");
        if per_container {
            if env.container_id.is_empty() {
                return Err(PluginError::env("CNI_CONTAINERID is required"));
            }
            if env.ifname.is_empty() || env.ifname.len() > 15 || env.ifname.contains('/') {
                return Err(PluginError::env(
                    "CNI_IFNAME must be a valid interface name",
                ));
            }
            if env.netns.is_empty() && env.command != "DEL" {
                return Err(PluginError::env("CNI_NETNS is required"));
            }
        }
        Ok(env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_host_local() {
        let conf = BridgeConf::parse(
            br#"{"cniVersion":"1.0.0","name":"n","ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.7.0/24"}]]}}"#,
        )
        .unwrap();
        assert_eq!(conf.bridge, DEFAULT_BRIDGE);
        assert!(conf.is_gateway && !conf.ip_masq);
        let sets = conf.range_sets().unwrap();
        let r = &sets[0][0];
        assert_eq!(r.start, "10.244.7.1".parse::<IpAddr>().unwrap());
        assert_eq!(r.end, "10.244.7.254".parse::<IpAddr>().unwrap());
        assert_eq!(r.gateway, "10.244.7.1".parse::<IpAddr>().unwrap());
        assert_eq!(conf.data_dir(), PathBuf::from("/var/lib/cni/networks/n"));
    }

    #[test]
    fn the_shipped_default_conflist_is_valid() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/10-cradle.conflist");
        let list = crate::config::load_file(&path).unwrap();
        let types: Vec<_> = list
            .plugins
            .iter()
            .map(|p| p.plugin_type.as_str())
            .collect();
        assert_eq!(types, ["loopback", "cradle-bridge", "portmap"]);
        let bridge = BridgeConf::parse(list.plugins[1].config.to_string().as_bytes()).unwrap();
        assert_eq!(
            bridge.range_sets().unwrap()[0][0].gateway.to_string(),
            "10.88.0.1"
        );
    }

    #[test]
    fn legacy_subnet_and_bad_ranges() {
        let conf = BridgeConf::parse(
            br#"{"name":"n","ipam":{"subnet":"10.1.0.0/16","gateway":"10.1.0.254"}}"#,
        )
        .unwrap();
        assert_eq!(
            conf.range_sets().unwrap()[0][0].gateway,
            "10.1.0.254".parse::<IpAddr>().unwrap()
        );
        let bad = BridgeConf::parse(
            br#"{"name":"n","ipam":{"ranges":[[{"subnet":"10.1.0.0/24","rangeStart":"10.2.0.1"}]]}}"#,
        )
        .unwrap();
        assert!(bad.range_sets().unwrap_err().msg.contains("outside"));
        let none = BridgeConf::parse(br#"{"name":"n"}"#).unwrap();
        assert!(none.range_sets().is_err());
    }

    #[test]
    fn env_requires_the_per_container_parameters() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(Env::from_vars(vars(&[("CNI_COMMAND", "ADD"), ("CNI_IFNAME", "eth0")])).is_err());
        assert!(
            Env::from_vars(vars(&[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", "c"),
                ("CNI_IFNAME", "eth0")
            ]))
            .is_ok()
        );
        assert!(Env::from_vars(vars(&[("CNI_COMMAND", "VERSION")])).is_ok());
    }
}
