//! Pod networking through CNI (`cradle-cni`): ADD when a pod starts, DEL when
//! it stops, results cached under `<root>/cni/` so DEL works after restarts
//! and after the configuration is gone.
//!
//! All calls here are blocking (they run plugin processes); the sandbox
//! manager runs them on blocking threads.

use cradle_cni::{CniNetwork, DEFAULT_PLUGIN_TIMEOUT, PodNetwork};
use cradle_proto::cri;
use std::path::{Path, PathBuf};

/// Where to find the configuration and plugins, and where to cache results.
#[derive(Debug, Clone)]
pub struct CniPaths {
    pub conf_dir: PathBuf,
    pub bin_dirs: Vec<PathBuf>,
    pub cache_dir: PathBuf,
}

/// Errors of attaching or detaching a pod.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("CNI: {0}")]
    Cni(#[from] cradle_cni::CniError),
    #[error("port mapping {0}: {1}")]
    Port(String, String),
}

/// The CNI view of a pod: identity, netns, port mappings and DNS.
pub fn pod_network(
    id: &str,
    netns: &Path,
    config: &cri::PodSandboxConfig,
) -> Result<PodNetwork, NetworkError> {
    let mut pod = PodNetwork::new(id, netns);
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
        tracing::warn!(sandbox = %pod.sandbox_id, "no CNI configuration: the pod has only loopback");
        return Ok(None);
    };
    let result = network.setup(pod)?;
    Ok(Some(result.ips.iter().map(|ip| ip.to_string()).collect()))
}

/// CNI DEL, from the loaded configuration or, without one, from the cache.
/// Detaching a pod that is not attached succeeds.
pub fn detach(paths: &CniPaths, pod: &PodNetwork) -> Result<(), NetworkError> {
    match CniNetwork::load(&paths.conf_dir, &paths.bin_dirs, &paths.cache_dir) {
        Ok(Some(network)) => Ok(network.teardown(pod)?),
        _ => {
            cradle_cni::teardown_cached(
                &paths.bin_dirs,
                &paths.cache_dir,
                pod,
                DEFAULT_PLUGIN_TIMEOUT,
            )?;
            Ok(())
        }
    }
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
        let pod = pod_network("sb1", Path::new("/run/cradle/ns/sb1/net"), &config).unwrap();
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
        assert!(pod_network("sb", Path::new("/x"), &config).is_err());
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
}
