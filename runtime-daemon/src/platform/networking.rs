//! The seam over pod networking: what the sandbox manager, recovery and the
//! sweep ask of CNI ([`super::cni`]), as a trait the context holds, so their
//! logic runs against a fake without root or plugins. [`CniNetworking`] is
//! the real one. The calls block (they run plugin processes): callers run
//! them on blocking threads, as before the seam.

use super::cni::{self, CniPaths, NetworkError};
use crate::core::ids::SandboxId;
use cradle_cni::PodNetwork;
use std::path::Path;

/// Attaches pods to the node's network and detaches them.
pub trait PodNetworking: Send + Sync {
    /// CNI ADD. `Ok(None)`: no network is configured, the pod keeps only
    /// `lo`; `Ok(Some(ips))`: attached, pod IPs with the primary first.
    fn attach(&self, pod: &PodNetwork) -> Result<Option<Vec<String>>, NetworkError>;

    /// CNI DEL (from the cache when the configuration is gone). Detaching a
    /// pod that is not attached succeeds.
    fn detach(&self, pod: &PodNetwork) -> Result<(), NetworkError>;

    /// Writes the pod's `net.*` sysctls inside its network namespace `netns`.
    fn apply_sysctls(&self, netns: &Path, sysctls: &[(String, String)])
    -> Result<(), NetworkError>;

    /// The cached pod IPs of sandbox `sandbox_id`, primary first; `None`
    /// when nothing is cached.
    fn cached_ips(&self, sandbox_id: &SandboxId) -> Result<Option<Vec<String>>, NetworkError>;

    /// CNI GC: releases every attachment that belongs to none of `live_sandboxes`.
    fn gc(&self, live_sandboxes: &[String]) -> Result<(), NetworkError>;

    /// The network's readiness: `Ok(None)` without a configuration,
    /// `Ok(Some(()))` when loaded and its plugins answer.
    fn status(&self) -> Result<Option<()>, NetworkError>;
}

/// CNI through `cradle-cni`, with the configuration, plugins and result
/// cache at `paths`.
#[derive(Debug, Clone)]
pub struct CniNetworking {
    paths: CniPaths,
}

impl CniNetworking {
    /// The node's CNI set-up at `paths`.
    pub fn new(paths: CniPaths) -> Self {
        CniNetworking { paths }
    }
}

impl PodNetworking for CniNetworking {
    fn attach(&self, pod: &PodNetwork) -> Result<Option<Vec<String>>, NetworkError> {
        cni::attach(&self.paths, pod)
    }

    fn detach(&self, pod: &PodNetwork) -> Result<(), NetworkError> {
        cni::detach(&self.paths, pod)
    }

    fn apply_sysctls(
        &self,
        netns: &Path,
        sysctls: &[(String, String)],
    ) -> Result<(), NetworkError> {
        cni::apply_sysctls(netns, sysctls)
    }

    fn cached_ips(&self, sandbox_id: &SandboxId) -> Result<Option<Vec<String>>, NetworkError> {
        cni::cached_ips(&self.paths, sandbox_id)
    }

    fn gc(&self, live_sandboxes: &[String]) -> Result<(), NetworkError> {
        cni::gc(&self.paths, live_sandboxes)
    }

    fn status(&self) -> Result<Option<()>, NetworkError> {
        cni::status(&self.paths)
    }
}
