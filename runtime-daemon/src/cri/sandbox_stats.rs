//! PodSandboxStats and ListPodSandboxStats: the pod's cgroups (the pause
//! process's plus each container's, summed, since a pod may share its
//! cgroup parent with others), its processes, the interfaces of its network
//! namespace (seen through the pause process) and the stats of its running
//! containers; [`crate::stats`] reads them all, this maps them. The list
//! answers from the shared stats pass ([`CriService::stats_pass`]), one
//! pod's stats are read directly.

use super::filter::{id_matches, labels_match};
use super::stats::{container_target, cpu_usage, memory_usage, pod_target, running_by_pod, value};
use super::{CriService, required};
use crate::containers::{ContainerRecord, ContainerState};
use crate::core::ids::SandboxId;
use crate::pods::{SandboxRecord, SandboxState};
use crate::stats::network::InterfaceSample;
use crate::stats::sample::init_interfaces;
use crate::stats::snapshot::{self, PodUsage, Snapshot, Targets};
use cradle_proto::cri;
use std::sync::Arc;
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
    /// One pod's stats read now, with its running `containers`.
    fn pod_stats_now(
        &self,
        record: &SandboxRecord,
        containers: &[&Arc<ContainerRecord>],
    ) -> cri::PodSandboxStats {
        let ids = containers.iter().map(|c| c.id.clone()).collect();
        let targets = Targets {
            containers: containers.iter().map(|c| container_target(c)).collect(),
            pods: vec![pod_target(record, ids)],
        };
        let pass = snapshot::sample(&targets, &self.runtime.cpu);
        self.pod_stats_in(&pass, record, containers)
    }

    /// A pod's stats from `pass` (read now if the pod is not in it), its
    /// containers' too.
    fn pod_stats_in(
        &self,
        pass: &Snapshot,
        record: &SandboxRecord,
        containers: &[&Arc<ContainerRecord>],
    ) -> cri::PodSandboxStats {
        let Some(pod) = pass.pods.get(&record.id) else {
            return self.pod_stats_now(record, containers);
        };
        let containers = containers.iter().map(|c| self.stats_in(pass, c)).collect();
        pod_stats(record, pod, containers)
    }

    pub(crate) fn pod_sandbox_stats_impl(
        &self,
        req: cri::PodSandboxStatsRequest,
    ) -> Result<cri::PodSandboxStatsResponse, Status> {
        let id = SandboxId::new(required(&req.pod_sandbox_id, "pod_sandbox_id")?);
        self.runtime.pod_call_span(&id);
        let record = self.runtime.pods.get(&id)?;
        let all = self.runtime.containers.list_shared();
        let containers: Vec<&Arc<ContainerRecord>> = all
            .iter()
            .filter(|c| c.sandbox_id == record.id && c.state == ContainerState::Running)
            .collect();
        Ok(cri::PodSandboxStatsResponse {
            stats: Some(self.pod_stats_now(&record, &containers)),
        })
    }

    pub(crate) fn list_pod_sandbox_stats_impl(
        &self,
        req: cri::ListPodSandboxStatsRequest,
    ) -> cri::ListPodSandboxStatsResponse {
        let filter = req.filter.unwrap_or_default();
        let pods = self.runtime.pods.list_shared();
        let matching: Vec<&Arc<SandboxRecord>> = pods
            .iter()
            .filter(|r| r.state == SandboxState::Ready)
            .filter(|r| id_matches(&r.id, &filter.id))
            .filter(|r| labels_match(&r.config.labels, &filter.label_selector))
            .collect();
        if matching.is_empty() {
            return cri::ListPodSandboxStatsResponse { stats: Vec::new() };
        }
        let all = self.runtime.containers.list_shared();
        let by_pod = running_by_pod(&all);
        let containers_of =
            |p: &SandboxRecord| by_pod.get(p.id.as_str()).map_or(&[][..], Vec::as_slice);
        // A filter by id names one pod: read it now (as PodSandboxStats does).
        if !filter.id.is_empty() {
            let stats = matching
                .iter()
                .map(|p| self.pod_stats_now(p, containers_of(p)))
                .collect();
            return cri::ListPodSandboxStatsResponse { stats };
        }
        let pass = self.stats_pass();
        let stats = matching
            .iter()
            .map(|p| self.pod_stats_in(&pass, p, containers_of(p)))
            .collect();
        cri::ListPodSandboxStatsResponse { stats }
    }
}

/// The CRI stats of a pod from its sample, with its containers' stats.
fn pod_stats(
    record: &SandboxRecord,
    pod: &PodUsage,
    containers: Vec<cri::ContainerStats>,
) -> cri::PodSandboxStats {
    let now = pod.timestamp;
    let interfaces = &pod.interfaces;
    cri::PodSandboxStats {
        attributes: Some(cri::PodSandboxAttributes {
            id: record.id.clone(),
            metadata: record.config.metadata.clone(),
            labels: record.config.labels.clone(),
            annotations: record.config.annotations.clone(),
        }),
        linux: Some(cri::LinuxPodSandboxStats {
            cpu: Some(cpu_usage(now, &pod.usage, pod.nano_cores)),
            memory: Some(memory_usage(now, &pod.usage)),
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
                process_count: value(pod.processes),
            }),
            // I/O usage (with its pressure) is not reported yet.
            io: None,
            containers,
        }),
        windows: None,
    }
}
