//! `net.*` sysctls of a pod (`LinuxPodSandboxConfig.sysctls`), applied in
//! the pod's network namespace.
//!
//! `/proc/sys/net` shows the namespace of the thread that opens the file,
//! so the writes happen on a short-lived thread that joins the pod's
//! namespace; the caller's thread never changes namespace. The values die
//! with the namespace, so there is nothing to undo.

use nix::sched::{CloneFlags, setns};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Errors of applying sysctls.
#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    /// The key is outside `net.*` (or tries to leave `/proc/sys/net`).
    #[error("sysctl {0:?} is not a namespaced net.* sysctl")]
    NotNet(String),
    /// The pod's pinned namespace cannot be opened.
    #[error("opening netns {}: {source}", path.display())]
    Netns {
        /// The pinned namespace.
        path: PathBuf,
        /// Why it cannot be opened.
        source: std::io::Error,
    },
    /// The writer thread could not join the namespace.
    #[error("entering netns {}: {source}", path.display())]
    Enter {
        /// The pinned namespace.
        path: PathBuf,
        /// The setns refusal.
        source: nix::Error,
    },
    /// The kernel refused the value.
    #[error("setting {key}={value}: {source}")]
    Write {
        /// The sysctl, as the pod spec wrote it.
        key: String,
        /// The value asked for.
        value: String,
        /// The refusal.
        source: std::io::Error,
    },
    /// The writer thread died before reporting.
    #[error("the sysctl thread panicked")]
    Thread,
}

/// The `/proc/sys` path of a `net.*` key. Keys use dots, or slashes when
/// a segment holds a dot (`net/ipv4/conf/eth0.100/forwarding`), as the
/// kubelet allows.
pub fn proc_path(key: &str) -> Result<PathBuf, SysctlError> {
    let not_net = || SysctlError::NotNet(key.to_string());
    let path = if key.contains('/') {
        key.to_string()
    } else {
        key.replace('.', "/")
    };
    let mut segments = path.split('/');
    if segments.next() != Some("net") {
        return Err(not_net());
    }
    if path
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(not_net());
    }
    Ok(Path::new("/proc/sys").join(path))
}

/// Writes each `key=value` inside the namespace pinned at `netns`, in
/// order, stopping at the first failure.
pub fn apply_net_sysctls(netns: &Path, sysctls: &[(String, String)]) -> Result<(), SysctlError> {
    if sysctls.is_empty() {
        return Ok(());
    }
    let paths = sysctls
        .iter()
        .map(|(k, _)| proc_path(k))
        .collect::<Result<Vec<_>, _>>()?;
    let ns = File::open(netns).map_err(|source| SysctlError::Netns {
        path: netns.to_path_buf(),
        source,
    })?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|source| {
                    SysctlError::Enter {
                        path: netns.to_path_buf(),
                        source,
                    }
                })?;
                for ((key, value), path) in sysctls.iter().zip(&paths) {
                    std::fs::write(path, value).map_err(|source| SysctlError::Write {
                        key: key.clone(),
                        value: value.clone(),
                        source,
                    })?;
                }
                Ok(())
            })
            .join()
            .map_err(|_| SysctlError::Thread)?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_proc_paths_and_only_net_keys_are_allowed() {
        assert_eq!(
            proc_path("net.ipv4.ip_forward").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            proc_path("net/ipv4/conf/eth0.100/forwarding").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/forwarding")
        );
        assert!(proc_path("kernel.shm_rmid_forced").is_err());
        assert!(proc_path("net/../kernel/x").is_err());
        assert!(proc_path("net..x").is_err());
    }
}
