//! The persisted record of one pod sandbox.

use crate::core::ids::SandboxId;
use crate::core::log_span;
use crate::platform::namespaces::Pins;
use cradle_proto::cri;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// CRI sandbox states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SandboxState {
    /// Its namespaces, network and pause process are up.
    Ready,
    /// Stopped (or never fully set up): containers cannot be created in it.
    NotReady,
}

impl SandboxState {
    /// The CRI enum value reported for this state.
    pub fn to_cri(self) -> cri::PodSandboxState {
        match self {
            SandboxState::Ready => cri::PodSandboxState::SandboxReady,
            SandboxState::NotReady => cri::PodSandboxState::SandboxNotready,
        }
    }
}

/// Everything the daemon keeps about a sandbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxRecord {
    /// The sandbox id the daemon generated.
    pub id: String,
    /// The RunPodSandbox request's config, as received.
    pub config: cri::PodSandboxConfig,
    /// The runtime handler it was run with (`cradle-oci`, `runc`); its
    /// containers use the same.
    pub runtime_handler: String,
    /// Whether the sandbox is ready.
    pub state: SandboxState,
    /// Nanoseconds since the epoch.
    pub created_at: i64,
    /// Its pinned namespaces (`None` entries: the host's).
    pub pins: Pins,
    /// State dir of the pause shim.
    pub shim_dir: PathBuf,
    /// Cgroup of the pause process.
    pub cgroup_path: String,
    /// Pod IPs from CNI ADD, primary first; empty without a network.
    #[serde(default)]
    pub ips: Vec<String>,
    /// CNI ADD succeeded and no DEL has run since.
    #[serde(default)]
    pub network_attached: bool,
}

impl SandboxRecord {
    /// The sandbox's id, typed (the record keeps it as stored text).
    pub fn typed_id(&self) -> SandboxId {
        SandboxId::new(&self.id)
    }

    /// The span of work on this pod: its id and `namespace/name` (see
    /// [`crate::core::log_span`]).
    pub fn log_span(&self) -> tracing::Span {
        let name = log_span::pod_name(self.config.metadata.as_ref());
        log_span::pod(Some(&self.id), name.as_deref())
    }

    /// The reserved name: one sandbox per (name, namespace, uid, attempt).
    pub fn name_key(config: &cri::PodSandboxConfig) -> Option<String> {
        let m = config.metadata.as_ref()?;
        Some(format!(
            "{}_{}_{}_{}",
            m.name, m.namespace, m.uid, m.attempt
        ))
    }

    /// The namespace options the kubelet asked for.
    pub fn namespace_options(&self) -> Option<cri::NamespaceOption> {
        self.config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.clone())
    }

    /// PodSandboxStatus.status.
    pub fn to_status(&self) -> cri::PodSandboxStatus {
        cri::PodSandboxStatus {
            id: self.id.clone(),
            metadata: self.config.metadata.clone(),
            state: self.state.to_cri() as i32,
            created_at: self.created_at,
            network: Some(cri::PodSandboxNetworkStatus {
                ip: self.ips.first().cloned().unwrap_or_default(),
                additional_ips: self
                    .ips
                    .iter()
                    .skip(1)
                    .map(|ip| cri::PodIp { ip: ip.clone() })
                    .collect(),
            }),
            linux: Some(cri::LinuxPodSandboxStatus {
                namespaces: Some(cri::Namespace {
                    options: self.namespace_options(),
                }),
            }),
            labels: self.config.labels.clone(),
            annotations: self.config.annotations.clone(),
            runtime_handler: self.runtime_handler.clone(),
        }
    }

    /// ListPodSandbox item.
    pub fn to_list_item(&self) -> cri::PodSandbox {
        cri::PodSandbox {
            id: self.id.clone(),
            metadata: self.config.metadata.clone(),
            state: self.state.to_cri() as i32,
            created_at: self.created_at,
            labels: self.config.labels.clone(),
            annotations: self.config.annotations.clone(),
            runtime_handler: self.runtime_handler.clone(),
        }
    }
}
