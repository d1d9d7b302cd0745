//! Which pod namespace a sysctl belongs to: checked for the whole pod at
//! RunPodSandbox, and the IPC ones go into each container's `linux.sysctl`.
//!
//! A pod's `linux.sysctls` hold two kinds of keys the kernel scopes to a
//! namespace the pod owns: `net.*` (its network namespace: the pod module
//! writes them once, after CNI ADD) and the IPC ones (`kernel.shm*`,
//! `kernel.msg*`, `kernel.sem`, `fs.mqueue.*`: its IPC namespace). Cradle's
//! pause process is no OCI container, so nobody would write the IPC ones;
//! they go into every container's spec instead, and the OCI runtime writes
//! them in the pod's IPC namespace the container joins (the same value each
//! time). Any other key is node-wide and is refused, as the kubelet and runc
//! do: a pod must not change the node.

use std::collections::HashMap;

use cradle_proto::cri;

/// Why a pod sysctl cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SysctlError {
    /// The key (named here) is empty or has an empty path segment.
    #[error("sysctl {0:?} is not a valid key")]
    InvalidKey(String),
    /// The sysctl (named here) is node-wide: setting it would change the host.
    #[error(
        "sysctl {0:?} is not namespaced to the pod (only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* are)"
    )]
    NotNamespaced(String),
    /// An IPC sysctl (named here) in a pod that shares the node's IPC namespace.
    #[error(
        "sysctl {0:?} belongs to the IPC namespace, but the pod uses the node's (ipc mode NODE)"
    )]
    HostIpc(String),
}

/// The namespace a sysctl key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysctlScope {
    /// The pod's network namespace (`net.*`).
    Net,
    /// The pod's IPC namespace (`kernel.shm*`, `kernel.msg*`, `kernel.sem`,
    /// `fs.mqueue.*`).
    Ipc,
}

/// The key in dotted form (`kernel/shmmax` → `kernel.shmmax`). Slashed net
/// keys keep their dots (interface names may hold some), so only non-net
/// keys are converted.
fn dotted(key: &str) -> String {
    if key.contains('/') && !crate::platform::cni::is_net_sysctl(key) {
        key.replace('/', ".")
    } else {
        key.to_string()
    }
}

/// Which pod namespace `key` (dotted or slashed) belongs to, or why it is
/// refused. The kubelet's own classification (`pkg/kubelet/sysctl`).
pub fn scope(key: &str) -> Result<SysctlScope, SysctlError> {
    if key.is_empty() || key.starts_with(['.', '/']) || key.contains("..") || key.contains("//") {
        return Err(SysctlError::InvalidKey(key.to_string()));
    }
    if crate::platform::cni::is_net_sysctl(key) {
        return Ok(SysctlScope::Net);
    }
    let key = dotted(key);
    let ipc = key == "kernel.sem"
        || key.starts_with("kernel.shm")
        || key.starts_with("kernel.msg")
        || key.starts_with("fs.mqueue.");
    if ipc {
        Ok(SysctlScope::Ipc)
    } else {
        Err(SysctlError::NotNamespaced(key))
    }
}

/// Checks every pod sysctl at RunPodSandbox: namespaced, and the IPC ones
/// only with a pod IPC namespace of its own.
pub fn validate(config: &cri::PodSandboxConfig, private_ipc: bool) -> Result<(), SysctlError> {
    for key in config.linux.iter().flat_map(|l| l.sysctls.keys()) {
        if scope(key)? == SysctlScope::Ipc && !private_ipc {
            return Err(SysctlError::HostIpc(key.clone()));
        }
    }
    Ok(())
}

/// The pod's IPC sysctls for a container's `linux.sysctl`, dotted as the
/// OCI spec wants them; `None` when there are none. `private_ipc`: the
/// container joins a pod IPC namespace (not the node's).
pub fn container_sysctls(
    sandbox: &cri::PodSandboxConfig,
    private_ipc: bool,
) -> Result<Option<HashMap<String, String>>, SysctlError> {
    let mut out = HashMap::new();
    for (key, value) in sandbox.linux.iter().flat_map(|l| &l.sysctls) {
        match scope(key)? {
            SysctlScope::Net => {}
            SysctlScope::Ipc if !private_ipc => return Err(SysctlError::HostIpc(key.clone())),
            SysctlScope::Ipc => {
                out.insert(dotted(key), value.clone());
            }
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(sysctls: &[(&str, &str)]) -> cri::PodSandboxConfig {
        cri::PodSandboxConfig {
            linux: Some(cri::LinuxPodSandboxConfig {
                sysctls: sysctls
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn ipc_keys_go_to_the_container_and_net_keys_do_not() {
        let config = pod(&[
            ("kernel.shmmax", "1000000"),
            ("kernel/msgmax", "9000"),
            ("fs.mqueue.msg_max", "20"),
            ("kernel.sem", "250 32000 32 128"),
            ("net.ipv4.ip_forward", "1"),
        ]);
        let got = container_sysctls(&config, true).unwrap().unwrap();
        let mut keys: Vec<&str> = got.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "fs.mqueue.msg_max",
                "kernel.msgmax",
                "kernel.sem",
                "kernel.shmmax"
            ]
        );
        assert_eq!(got["kernel.msgmax"], "9000");
        assert_eq!(
            container_sysctls(&pod(&[("net.core.somaxconn", "1")]), true),
            Ok(None)
        );
        assert_eq!(container_sysctls(&pod(&[]), false), Ok(None));
    }

    #[test]
    fn node_wide_and_malformed_keys_are_refused() {
        for key in ["kernel.pid_max", "vm.swappiness", "kernel.hostname"] {
            assert_eq!(
                validate(&pod(&[(key, "1")]), true),
                Err(SysctlError::NotNamespaced(key.into()))
            );
        }
        for key in ["", "kernel..shmmax", "/kernel/shmmax", ".kernel"] {
            assert_eq!(
                scope(key),
                Err(SysctlError::InvalidKey(key.into())),
                "{key:?}"
            );
        }
    }

    #[test]
    fn ipc_keys_need_the_pods_own_ipc_namespace() {
        let config = pod(&[("kernel.shm_rmid_forced", "1")]);
        assert!(validate(&config, true).is_ok());
        assert_eq!(
            validate(&config, false),
            Err(SysctlError::HostIpc("kernel.shm_rmid_forced".into()))
        );
        assert!(container_sysctls(&config, false).is_err());
        // net.* keys are the network side's business, whatever the IPC mode.
        assert!(validate(&pod(&[("net.ipv4.ip_forward", "1")]), false).is_ok());
    }
}
