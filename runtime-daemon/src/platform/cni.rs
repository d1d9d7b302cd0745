//! Pod networking through CNI (`cradle-cni`): ADD when a pod starts, DEL when
//! it stops, results cached under `<root>/cni/` so DEL works after restarts
//! and after the configuration is gone.
//!
//! All calls here are blocking (they run plugin processes); the sandbox
//! manager runs them on blocking threads.

use crate::core::ids::SandboxId;
use cradle_cni::{CniNetwork, DEFAULT_PLUGIN_TIMEOUT, PodNetwork};
use cradle_proto::cri;
use std::path::{Path, PathBuf};

/// Where to find the configuration and plugins, and where to cache results.
#[derive(Debug, Clone)]
pub struct CniPaths {
    /// The network configuration directory (`*.conf`, `*.conflist`).
    pub conf_dir: PathBuf,
    /// Plugin directories, searched in order.
    pub bin_dirs: Vec<PathBuf>,
    /// Where ADD results are cached for DEL, CHECK and GC (`<root>/cni`).
    pub cache_dir: PathBuf,
}

/// Errors of attaching or detaching a pod. Each names the step; the
/// library's error stays its source (the daemon's error prints the chain).
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A CNI operation (load, ADD, DEL, GC, STATUS) failed.
    #[error("CNI")]
    Cni(#[from] cradle_cni::CniError),
    /// A port mapping CNI cannot carry: the mapping and why, in words.
    #[error("port mapping {0}: {1}")]
    Port(String, String),
    /// Writing the pod's `net.*` sysctls failed.
    #[error("sysctls")]
    Sysctl(#[from] cradle_cni::sysctl::SysctlError),
    /// The CNI result cache could not be read.
    #[error("reading the CNI result cache")]
    Cache(#[from] cradle_cni::cache::CacheError),
}

/// The CNI view of a pod: identity, netns, port mappings and DNS.
pub fn pod_network(
    id: &SandboxId,
    netns: &Path,
    config: &cri::PodSandboxConfig,
) -> Result<PodNetwork, NetworkError> {
    let mut pod = PodNetwork::new(id.as_str(), netns);
    if let Some(m) = &config.metadata {
        pod.pod_name = m.name.clone();
        pod.pod_namespace = m.namespace.clone();
        pod.pod_uid = m.uid.clone();
    }
    for p in config.port_mappings.iter().filter(|p| p.host_port > 0) {
        let port = |v: i32| {
            u16::try_from(v)
                .map_err(|_| NetworkError::Port(format!("{p:?}"), format!("{v} is out of range")))
        };
        let protocol = match cri::Protocol::try_from(p.protocol) {
            Ok(cri::Protocol::Tcp) => "tcp",
            Ok(cri::Protocol::Udp) => "udp",
            Ok(cri::Protocol::Sctp) => "sctp",
            Err(_) => {
                return Err(NetworkError::Port(
                    format!("{p:?}"),
                    "unknown protocol".into(),
                ));
            }
        };
        pod.port_mappings.push(cradle_cni::PortMapping {
            host_port: port(p.host_port)?,
            container_port: port(p.container_port)?,
            protocol: protocol.to_string(),
            host_ip: p.host_ip.clone(),
        });
    }
    pod.dns = config.dns_config.as_ref().map(|d| cradle_cni::DnsConfig {
        servers: d.servers.clone(),
        searches: d.searches.clone(),
        options: d.options.clone(),
    });
    Ok(pod)
}

/// CNI ADD. `Ok(None)`: no network is configured, the pod keeps only `lo`
/// (the kubelet sends no such pods while NetworkReady is false). `Ok(Some(ips))`:
/// attached, pod IPs with the primary first.
pub fn attach(paths: &CniPaths, pod: &PodNetwork) -> Result<Option<Vec<String>>, NetworkError> {
    let Some(network) = CniNetwork::load(&paths.conf_dir, &paths.bin_dirs, &paths.cache_dir)?
    else {
        tracing::warn!("no CNI configuration: the pod has only loopback");
        return Ok(None);
    };
    let result = observed("add", || network.setup(pod))?;
    Ok(Some(result.ips.iter().map(|ip| ip.to_string()).collect()))
}

/// CNI DEL, from the loaded configuration or, without one, from the cache.
/// Detaching a pod that is not attached succeeds.
pub fn detach(paths: &CniPaths, pod: &PodNetwork) -> Result<(), NetworkError> {
    match CniNetwork::load(&paths.conf_dir, &paths.bin_dirs, &paths.cache_dir) {
        Ok(Some(network)) => Ok(observed("del", || network.teardown(pod))?),
        _ => {
            observed("del", || {
                cradle_cni::teardown_cached(
                    &paths.bin_dirs,
                    &paths.cache_dir,
                    pod,
                    DEFAULT_PLUGIN_TIMEOUT,
                )
            })?;
            Ok(())
        }
    }
}

/// Runs CNI operation `op` (`add`, `del`), recording its duration and
/// outcome when metrics are on.
fn observed<T, E>(op: &'static str, run: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let Some(metrics) = crate::metrics::registry::get() else {
        return run();
    };
    let started = std::time::Instant::now();
    let result = run();
    metrics.cni(op, result.is_ok(), started.elapsed());
    result
}

/// The pod's `net.*` sysctls (`linux.sysctls`), sorted by key so the order
/// is stable. The others (`kernel.shm*`, `fs.mqueue.*`…) belong to the IPC
/// namespace and go into each container's spec instead.
pub fn net_sysctls(config: &cri::PodSandboxConfig) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = config
        .linux
        .iter()
        .flat_map(|l| &l.sysctls)
        .filter(|(k, _)| is_net_sysctl(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.sort();
    out
}

/// Whether `key` (dotted or slashed) is a `net.*` sysctl.
pub fn is_net_sysctl(key: &str) -> bool {
    key.starts_with("net.") || key.starts_with("net/")
}

/// Writes the pod's `net.*` sysctls inside its network namespace. Run after
/// CNI ADD, so per-interface keys (`net.ipv4.conf.eth0.*`) find `eth0`.
/// Nothing to undo: the values die with the namespace.
pub fn apply_sysctls(netns: &Path, sysctls: &[(String, String)]) -> Result<(), NetworkError> {
    Ok(cradle_cni::sysctl::apply_net_sysctls(netns, sysctls)?)
}

/// The pod IPs of a sandbox from the CNI result cache (whatever network it
/// was added to), primary first; `None` when nothing is cached. For
/// `PodSandboxStatus` of pods attached before a restart whose record lacks
/// them.
pub fn cached_ips(
    paths: &CniPaths,
    sandbox_id: &SandboxId,
) -> Result<Option<Vec<String>>, NetworkError> {
    let cache = cradle_cni::cache::ResultCache::new(&paths.cache_dir);
    let entries = cache.find(sandbox_id.as_str(), cradle_cni::types::DEFAULT_IFNAME)?;
    Ok(entries.into_iter().next().map(|entry| {
        cradle_cni::NetworkResult::from_raw(entry.result)
            .ips
            .iter()
            .map(|ip| ip.to_string())
            .collect()
    }))
}

/// CNI GC at start: DEL of every cached attachment that belongs to no live
/// sandbox, then (1.1.0+) GC so plugins drop what the runtime forgot.
/// Without a configuration there is nothing to collect with.
pub fn gc(paths: &CniPaths, live_sandboxes: &[String]) -> Result<(), NetworkError> {
    let Some(network) = CniNetwork::load(&paths.conf_dir, &paths.bin_dirs, &paths.cache_dir)?
    else {
        return Ok(());
    };
    let valid: Vec<cradle_cni::Attachment> = live_sandboxes
        .iter()
        .map(|id| cradle_cni::Attachment {
            container_id: id.clone(),
            ifname: cradle_cni::types::DEFAULT_IFNAME.to_string(),
        })
        .collect();
    Ok(network.gc(&valid)?)
}

/// How long `Status` waits for a plugin's STATUS (the kubelet polls Status
/// every few seconds; a hung plugin must not hang it).
const STATUS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The network's readiness for `Status`: `Ok(None)` without a configuration,
/// `Ok(Some(()))` when it is loaded and (for 1.1.0+ configurations) every
/// plugin answers CNI STATUS; the error carries the plugin's message.
pub fn status(paths: &CniPaths) -> Result<Option<()>, NetworkError> {
    let Some(network) = CniNetwork::load(&paths.conf_dir, &paths.bin_dirs, &paths.cache_dir)?
    else {
        return Ok(None);
    };
    if cradle_cni::version::supports_status_and_gc(&network.config().cni_version) {
        network.with_timeout(STATUS_TIMEOUT).status()?;
    }
    Ok(Some(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_identity_ports_and_dns_reach_cni() {
        let config = cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: "web".into(),
                uid: "u1".into(),
                namespace: "prod".into(),
                attempt: 0,
            }),
            port_mappings: vec![
                cri::PortMapping {
                    protocol: cri::Protocol::Udp as i32,
                    container_port: 53,
                    host_port: 5353,
                    host_ip: "127.0.0.1".into(),
                },
                // No host port: not a mapping the portmap plugin handles.
                cri::PortMapping {
                    container_port: 80,
                    ..Default::default()
                },
            ],
            dns_config: Some(cri::DnsConfig {
                servers: vec!["10.0.0.10".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let pod = pod_network(
            &SandboxId::new("sb1"),
            Path::new("/run/cradle/ns/sb1/net"),
            &config,
        )
        .unwrap();
        assert_eq!(
            (
                pod.pod_name.as_str(),
                pod.pod_namespace.as_str(),
                pod.pod_uid.as_str()
            ),
            ("web", "prod", "u1")
        );
        assert_eq!(pod.ifname, "eth0");
        assert_eq!(pod.port_mappings.len(), 1);
        assert_eq!(pod.port_mappings[0].protocol, "udp");
        assert_eq!(pod.port_mappings[0].host_port, 5353);
        assert_eq!(pod.dns.unwrap().servers, ["10.0.0.10"]);
    }

    #[test]
    fn out_of_range_ports_are_refused() {
        let config = cri::PodSandboxConfig {
            port_mappings: vec![cri::PortMapping {
                container_port: 80,
                host_port: 70000,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(pod_network(&SandboxId::new("sb"), Path::new("/x"), &config).is_err());
    }

    #[test]
    fn no_configuration_means_loopback_only_and_detach_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let paths = CniPaths {
            conf_dir: dir.path().join("net.d"),
            bin_dirs: vec![dir.path().join("bin")],
            cache_dir: dir.path().join("cache"),
        };
        let pod = PodNetwork::new("sb", dir.path().join("netns"));
        assert_eq!(attach(&paths, &pod).unwrap(), None);
        detach(&paths, &pod).unwrap();
    }

    #[test]
    fn cached_ips_come_from_the_result_cache_primary_first() {
        let dir = tempfile::tempdir().unwrap();
        let paths = CniPaths {
            conf_dir: dir.path().join("net.d"),
            bin_dirs: vec![],
            cache_dir: dir.path().join("cache"),
        };
        assert_eq!(cached_ips(&paths, &SandboxId::new("sb")).unwrap(), None);
        let cache = cradle_cni::cache::ResultCache::new(&paths.cache_dir);
        cache
            .write(&cradle_cni::cache::CacheEntry {
                kind: cradle_cni::cache::KIND.to_string(),
                container_id: "sb".into(),
                if_name: "eth0".into(),
                network_name: "net".into(),
                netns: "/x".into(),
                config: serde_json::json!({"cniVersion": "1.0.0", "name": "net", "plugins": []}),
                cni_args: vec![],
                capability_args: Default::default(),
                result: serde_json::json!({
                    "cniVersion": "1.0.0",
                    "interfaces": [{"name": "eth0", "sandbox": "/x"}],
                    "ips": [
                        {"address": "fd00::5/64", "interface": 0},
                        {"address": "10.1.0.5/24", "interface": 0}
                    ]
                }),
            })
            .unwrap();
        assert_eq!(
            cached_ips(&paths, &SandboxId::new("sb")).unwrap(),
            Some(vec!["10.1.0.5".to_string(), "fd00::5".to_string()])
        );
    }
}
