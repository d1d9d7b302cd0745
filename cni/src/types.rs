//! The data that crosses the CNI boundary: what the runtime says about a pod
//! (identity, namespace, capability arguments) and what plugins answer
//! (interfaces, IPs, routes, DNS), with serde shapes of the CNI spec.
//!
//! Results are parsed leniently: the spec's 0.4.0 and 1.x result formats
//! differ only in fields this module ignores (`ips[].version`), and unknown
//! fields are kept in the raw JSON that the cache stores.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::IpAddr;
use std::path::PathBuf;

/// Everything the runtime knows about one pod attachment: the CNI identity
/// (container id, netns, interface name), the kubelet's pod identity for
/// `CNI_ARGS`, and the `runtimeConfig` capability arguments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PodNetwork {
    /// The sandbox id, passed as `CNI_CONTAINERID` and
    /// `K8S_POD_INFRA_CONTAINER_ID`.
    pub sandbox_id: String,
    /// The pinned network namespace (`CNI_NETNS`).
    pub netns: PathBuf,
    /// The interface inside the pod (`CNI_IFNAME`), `eth0` by default.
    pub ifname: String,
    /// The pod's name (`K8S_POD_NAME`).
    pub pod_name: String,
    /// The pod's Kubernetes namespace (`K8S_POD_NAMESPACE`).
    pub pod_namespace: String,
    /// The pod's uid (`K8S_POD_UID`).
    pub pod_uid: String,
    /// `runtimeConfig.portMappings` (hostPort mappings of the pod's containers).
    pub port_mappings: Vec<PortMapping>,
    /// `runtimeConfig.bandwidth`.
    pub bandwidth: Option<Bandwidth>,
    /// `runtimeConfig.dns`.
    pub dns: Option<DnsConfig>,
    /// `runtimeConfig.ips`: requested static addresses (CIDR strings).
    pub ips: Vec<String>,
    /// `runtimeConfig.mac`: a requested MAC address.
    pub mac: Option<String>,
    /// Extra `CNI_ARGS` pairs, appended after the Kubernetes ones.
    pub extra_args: Vec<(String, String)>,
}

impl PodNetwork {
    /// An attachment of `sandbox_id` in `netns` on `eth0`, with no pod
    /// identity or capabilities yet (set the public fields for those).
    pub fn new(sandbox_id: impl Into<String>, netns: impl Into<PathBuf>) -> Self {
        PodNetwork {
            sandbox_id: sandbox_id.into(),
            netns: netns.into(),
            ifname: DEFAULT_IFNAME.to_string(),
            ..PodNetwork::default()
        }
    }

    /// The `CNI_ARGS` pairs: `IgnoreUnknown=1` first so plugins that do not
    /// know the Kubernetes keys accept them, then the pod identity.
    pub fn cni_args(&self) -> Vec<(String, String)> {
        let mut args = vec![
            ("IgnoreUnknown".to_string(), "1".to_string()),
            ("K8S_POD_NAMESPACE".to_string(), self.pod_namespace.clone()),
            ("K8S_POD_NAME".to_string(), self.pod_name.clone()),
            (
                "K8S_POD_INFRA_CONTAINER_ID".to_string(),
                self.sandbox_id.clone(),
            ),
            ("K8S_POD_UID".to_string(), self.pod_uid.clone()),
        ];
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// The capability arguments this pod has values for, keyed by the
    /// capability name plugins declare in `capabilities`.
    pub fn capability_args(&self) -> serde_json::Map<String, Value> {
        let mut caps = serde_json::Map::new();
        if !self.port_mappings.is_empty() {
            caps.insert("portMappings".into(), json(&self.port_mappings));
        }
        if let Some(bandwidth) = &self.bandwidth {
            caps.insert("bandwidth".into(), json(bandwidth));
        }
        if let Some(dns) = &self.dns {
            caps.insert("dns".into(), json(dns));
        }
        if !self.ips.is_empty() {
            caps.insert("ips".into(), json(&self.ips));
        }
        if let Some(mac) = &self.mac {
            caps.insert("mac".into(), Value::String(mac.clone()));
        }
        caps
    }
}

/// The interface name Kubernetes pods use.
pub const DEFAULT_IFNAME: &str = "eth0";

fn json<T: Serialize>(value: &T) -> Value {
    // Serializing these plain structs cannot fail (no maps with non-string
    // keys, no custom serializers); Null is a harmless fallback.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// One hostPort mapping, in the `portMappings` capability's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// The port opened on the node.
    pub host_port: u16,
    /// The port inside the pod that the host port forwards to.
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp` (lower case, as the portmap plugin expects).
    pub protocol: String,
    /// The node address to bind the host port on; empty for all addresses.
    #[serde(rename = "hostIP", default, skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

/// Traffic shaping, in the `bandwidth` capability's shape (bits per second
/// and bits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bandwidth {
    /// Traffic into the pod, bits per second.
    pub ingress_rate: u64,
    /// Traffic into the pod allowed above the rate at once, bits.
    pub ingress_burst: u64,
    /// Traffic out of the pod, bits per second.
    pub egress_rate: u64,
    /// Traffic out of the pod allowed above the rate at once, bits.
    pub egress_burst: u64,
}

/// The pod's DNS settings, in the `dns` capability's shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsConfig {
    /// Name server addresses.
    #[serde(default)]
    pub servers: Vec<String>,
    /// Search domains.
    #[serde(default)]
    pub searches: Vec<String>,
    /// resolv.conf options (`ndots:5`, ...).
    #[serde(default)]
    pub options: Vec<String>,
}

/// A plugin's result (spec 0.4.0 and 1.x shapes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CniResult {
    /// The spec version the result is written in.
    #[serde(default)]
    pub cni_version: String,
    /// The interfaces the chain created or configured, on the host and in the pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// The addresses assigned, each naming its interface by index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    /// The routes installed in the pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// The DNS settings the plugins suggest.
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
}

/// An interface a plugin created or configured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    /// The interface's name in its namespace (`eth0`, `cradle0`, `veth...`).
    pub name: String,
    /// Its hardware address; empty when the plugin did not say.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// Its MTU, when the plugin reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The netns path for interfaces inside the pod; empty on the host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
}

/// One address assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpConfig {
    /// CIDR notation: `10.244.0.5/24`.
    pub address: String,
    /// The default gateway for this address, if the plugin set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

impl IpConfig {
    /// The address without its prefix length; `None` if malformed.
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.split('/').next()?.parse().ok()
    }
}

/// A route a plugin installed (or wants installed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// The destination in CIDR notation (`0.0.0.0/0` for the default route).
    pub dst: String,
    /// The next hop; `None` means the interface's own gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
}

/// DNS information a plugin returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// Name server addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// The local domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// resolv.conf options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    /// True when the plugin said nothing about DNS, so the field is left
    /// out of the serialized result.
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_empty()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

/// What the runtime keeps of a successful ADD: the pod's addresses (primary
/// first, IPv4 before IPv6 as the kubelet expects for dual-stack), the typed
/// result, and the raw JSON of the last plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkResult {
    /// The pod's own addresses, primary first, IPv4 before IPv6.
    pub ips: Vec<IpAddr>,
    /// The final result, parsed.
    pub result: CniResult,
    /// The final result as the last plugin wrote it, unknown fields kept.
    pub raw: Value,
}

impl NetworkResult {
    /// Builds the summary from the chain's final result.
    pub fn from_raw(raw: Value) -> Self {
        let result: CniResult = serde_json::from_value(raw.clone()).unwrap_or_default();
        let ips = pod_ips(&result);
        NetworkResult { ips, result, raw }
    }

    /// The pod IP (`PodSandboxStatus.network.ip`).
    pub fn primary_ip(&self) -> Option<IpAddr> {
        self.ips.first().copied()
    }
}

/// The addresses on the pod's side: those whose interface is inside a sandbox
/// (or that name no interface), not loopback, IPv4 first, each once.
fn pod_ips(result: &CniResult) -> Vec<IpAddr> {
    let in_pod = |ip: &&IpConfig| match ip.interface {
        Some(i) => result
            .interfaces
            .get(i)
            .is_none_or(|iface| !iface.sandbox.is_empty()),
        None => true,
    };
    let mut ips: Vec<IpAddr> = Vec::new();
    for ip in result.ips.iter().filter(in_pod).filter_map(IpConfig::ip) {
        // A loopback plugin earlier in the chain may report 127.0.0.1.
        if !ip.is_loopback() && !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    ips.sort_by_key(|ip| ip.is_ipv6());
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cni_args_start_with_ignore_unknown_and_carry_the_pod_identity() {
        let mut pod = PodNetwork::new("abc", "/run/ns");
        pod.pod_name = "web".into();
        pod.pod_namespace = "default".into();
        pod.pod_uid = "u1".into();
        let args = pod.cni_args();
        assert_eq!(args[0], ("IgnoreUnknown".into(), "1".into()));
        assert!(args.contains(&("K8S_POD_NAME".into(), "web".into())));
        assert!(args.contains(&("K8S_POD_INFRA_CONTAINER_ID".into(), "abc".into())));
        assert_eq!(pod.ifname, "eth0");
    }

    #[test]
    fn capability_args_only_name_what_the_pod_has() {
        let mut pod = PodNetwork::new("abc", "/run/ns");
        assert!(pod.capability_args().is_empty());
        pod.port_mappings.push(PortMapping {
            host_port: 8080,
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: String::new(),
        });
        let caps = pod.capability_args();
        assert_eq!(
            caps["portMappings"],
            serde_json::json!([{"hostPort":8080,"containerPort":80,"protocol":"tcp"}])
        );
        assert_eq!(caps.len(), 1);
    }

    #[test]
    fn pod_ips_skip_host_interfaces_and_put_ipv4_first() {
        let raw = serde_json::json!({
            "cniVersion": "1.0.0",
            "interfaces": [{"name":"br0"},{"name":"eth0","sandbox":"/run/ns"}],
            "ips": [
                {"address":"fd00::5/64","interface":1},
                {"address":"10.0.0.1/24","interface":0},
                {"address":"10.0.0.5/24","interface":1,"gateway":"10.0.0.1"}
            ]
        });
        let result = NetworkResult::from_raw(raw);
        assert_eq!(
            result.ips,
            vec![
                "10.0.0.5".parse::<IpAddr>().unwrap(),
                "fd00::5".parse().unwrap()
            ]
        );
    }

    #[test]
    fn spec_040_results_with_ip_versions_parse() {
        let raw = serde_json::json!({
            "cniVersion": "0.4.0",
            "ips": [{"version":"4","address":"10.1.0.2/16"}],
            "dns": {}
        });
        let result = NetworkResult::from_raw(raw);
        assert_eq!(result.primary_ip(), Some("10.1.0.2".parse().unwrap()));
    }
}
