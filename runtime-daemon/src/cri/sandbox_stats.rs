//! PodSandboxStats and ListPodSandboxStats: the pod's cgroups (the pause
//! process's plus each container's, summed, since a pod may share its
//! cgroup parent with others), its processes, the interfaces of its network
//! namespace (seen through the pause process) and the stats of its running
//! containers; [`crate::stats`] reads them all, this maps them.

use super::filter::{id_matches, labels_match};
use super::stats::{cpu_usage, memory_usage, value};
use super::{CriService, required};
use crate::containers::ContainerState;
use crate::core::ids::SandboxId;
use crate::pods::{SandboxRecord, SandboxState};
use crate::stats::network::InterfaceSample;
use crate::stats::sample::{init_interfaces, pod_sample};
use cradle_proto::cri;
use tonic::Status;

/// The interface the kubelet reports as the pod's (CNI's default name).
const DEFAULT_INTERFACE: &str = "eth0";

fn interface(i: &InterfaceSample) -> cri::NetworkInterfaceUsage {
    cri::NetworkInterfaceUsage {
        name: i.name.clone(),
        rx_bytes: value(Some(i.rx_bytes)),
        rx_errors: value(Some(i.rx_errors)),
        tx_bytes: value(Some(i.tx_bytes)),
        tx_errors: value(Some(i.tx_errors)),
    }
}

/// The counters of the pod's own network interfaces (none for a
/// host-network or stopped pod), through the pause process.
pub(crate) fn pod_interfaces(record: &SandboxRecord) -> Vec<InterfaceSample> {
    if record.pins.net.is_some() && record.state == SandboxState::Ready {
        init_interfaces(&record.shim_dir)
    } else {
        Vec::new()
    }
}

impl CriService {
    fn pod_stats_of(&self, record: &SandboxRecord) -> cri::PodSandboxStats {
        let now = crate::core::time::now_ns();
        let containers: Vec<_> = self
            .runtime
            .containers
            .list()
            .into_iter()
            .filter(|c| c.sandbox_id == record.id && c.state == ContainerState::Running)
            .collect();
        let mut cgroups = vec![record.cgroup_path.clone()];
        cgroups.extend(containers.iter().map(|c| c.cgroup_path.clone()));
        let pod = pod_sample(&cgroups);
        let (sample, processes) = (pod.usage, pod.processes);
        let nano_cores = sample
            .cpu_usage_ns
            .and_then(|usage| self.runtime.cpu.rate(&record.id, now, usage));
        let interfaces = pod_interfaces(record);
        cri::PodSandboxStats {
            attributes: Some(cri::PodSandboxAttributes {
                id: record.id.clone(),
                metadata: record.config.metadata.clone(),
                labels: record.config.labels.clone(),
                annotations: record.config.annotations.clone(),
            }),
            linux: Some(cri::LinuxPodSandboxStats {
                cpu: Some(cpu_usage(now, &sample, nano_cores)),
                memory: Some(memory_usage(now, &sample)),
                network: (!interfaces.is_empty()).then(|| cri::NetworkUsage {
                    timestamp: now,
                    default_interface: interfaces
                        .iter()
                        .find(|i| i.name == DEFAULT_INTERFACE)
                        .map(interface),
                    interfaces: interfaces.iter().map(interface).collect(),
                }),
                process: Some(cri::ProcessUsage {
                    timestamp: now,
                    process_count: value(processes),
                }),
                // I/O usage (with its pressure) is not reported yet.
                io: None,
                containers: containers.iter().map(|c| self.stats_of(c)).collect(),
            }),
            windows: None,
        }
    }

    pub(crate) fn pod_sandbox_stats_impl(
        &self,
        req: cri::PodSandboxStatsRequest,
    ) -> Result<cri::PodSandboxStatsResponse, Status> {
        let id = required(&req.pod_sandbox_id, "pod_sandbox_id")?;
        let record = self.runtime.pods.get(&SandboxId::new(id))?;
        Ok(cri::PodSandboxStatsResponse {
            stats: Some(self.pod_stats_of(&record)),
        })
    }

    pub(crate) fn list_pod_sandbox_stats_impl(
        &self,
        req: cri::ListPodSandboxStatsRequest,
    ) -> cri::ListPodSandboxStatsResponse {
        let filter = req.filter.unwrap_or_default();
        let stats = self
            .runtime
            .pods
            .list()
            .iter()
            .filter(|r| r.state == SandboxState::Ready)
            .filter(|r| id_matches(&r.id, &filter.id))
            .filter(|r| labels_match(&r.config.labels, &filter.label_selector))
            .map(|r| self.pod_stats_of(r))
            .collect();
        cri::ListPodSandboxStatsResponse { stats }
    }
}
