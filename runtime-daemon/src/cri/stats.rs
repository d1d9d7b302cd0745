//! ContainerStats and ListContainerStats: CPU and memory from the
//! container's cgroup sample ([`crate::stats`] reads it), the writable
//! layer's usage from the image store. The list answers from the stats
//! pass the list stats RPCs share ([`CriService::stats_pass`]: every
//! running container and ready pod read once, kept for a moment); one
//! container's stats are read directly.

use super::filter::{id_matches, labels_match};
use super::{CriService, required};
use crate::containers::{ContainerRecord, ContainerState};
use crate::core::ids::ContainerId;
use crate::pods::{SandboxRecord, SandboxState};
use crate::stats::cgroup::CgroupSample;
use crate::stats::snapshot::{self, ContainerTarget, ContainerUsage, PodTarget, Snapshot, Targets};
use cradle_proto::cri;
use std::collections::HashMap;
use std::sync::Arc;
use tonic::Status;

pub(crate) fn value(v: Option<u64>) -> Option<cri::UInt64Value> {
    v.map(|value| cri::UInt64Value { value })
}

/// The CRI CPU usage of a cgroup sample, with the rate the tracker derived.
pub(crate) fn cpu_usage(now: i64, sample: &CgroupSample, nano_cores: Option<u64>) -> cri::CpuUsage {
    cri::CpuUsage {
        timestamp: now,
        usage_core_nano_seconds: value(sample.cpu_usage_ns),
        // No rate before a second sample: 0, as containerd reports. Left
        // empty, the kubelet derives one itself, and two calls answered
        // from the same stats pass give it a zero interval, which it logs
        // as an error (seen with a kubelet v1.36 at its first stats calls).
        usage_nano_cores: value(sample.cpu_usage_ns.map(|_| nano_cores.unwrap_or(0))),
        // Pressure stall information is not reported yet.
        psi: None,
    }
}

/// The CRI memory usage of a cgroup sample.
pub(crate) fn memory_usage(now: i64, sample: &CgroupSample) -> cri::MemoryUsage {
    cri::MemoryUsage {
        timestamp: now,
        working_set_bytes: value(sample.working_set),
        available_bytes: None,
        usage_bytes: value(sample.memory_usage),
        rss_bytes: value(sample.rss),
        page_faults: value(sample.page_faults),
        major_page_faults: value(sample.major_page_faults),
        psi: None,
    }
}

/// What a stats pass reads of a container.
pub(crate) fn container_target(record: &ContainerRecord) -> ContainerTarget {
    ContainerTarget {
        id: record.id.clone(),
        cgroup_path: record.cgroup_path.clone(),
    }
}

/// What a stats pass reads of a pod, with the ids of its running containers.
pub(crate) fn pod_target(record: &SandboxRecord, containers: Vec<String>) -> PodTarget {
    PodTarget {
        id: record.id.clone(),
        cgroup_path: record.cgroup_path.clone(),
        net_shim_dir: (record.pins.net.is_some() && record.state == SandboxState::Ready)
            .then(|| record.shim_dir.clone()),
        containers,
    }
}

/// The running containers, grouped by pod id (one pass over the list).
pub(crate) fn running_by_pod(
    containers: &[Arc<ContainerRecord>],
) -> HashMap<&str, Vec<&Arc<ContainerRecord>>> {
    let mut by_pod: HashMap<&str, Vec<&Arc<ContainerRecord>>> = HashMap::new();
    for c in containers
        .iter()
        .filter(|c| c.state == ContainerState::Running)
    {
        by_pod.entry(c.sandbox_id.as_str()).or_default().push(c);
    }
    by_pod
}

impl CriService {
    /// The stats of every running container and ready pod, from one pass
    /// over their cgroups: the kept one when at most
    /// [`crate::stats::cache::MAX_AGE`] old, else a new one (which
    /// concurrent callers wait for and share). Runs on a blocking thread.
    pub(crate) fn stats_pass(&self) -> Arc<Snapshot> {
        self.stats.get(|| {
            let started = std::time::Instant::now();
            let pods = self.runtime.pods.list_shared();
            let containers = self.runtime.containers.list_shared();
            let by_pod = running_by_pod(&containers);
            let targets = Targets {
                containers: by_pod
                    .values()
                    .flatten()
                    .map(|c| container_target(c))
                    .collect(),
                pods: pods
                    .iter()
                    .filter(|p| p.state == SandboxState::Ready)
                    .map(|p| {
                        let ids = by_pod
                            .get(p.id.as_str())
                            .map_or_else(Vec::new, |cs| cs.iter().map(|c| c.id.clone()).collect());
                        pod_target(p, ids)
                    })
                    .collect(),
            };
            let pass = snapshot::take(&targets, &self.runtime.cpu);
            tracing::debug!(
                containers = pass.containers.len(),
                pods = pass.pods.len(),
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "stats pass"
            );
            pass
        })
    }

    /// One container's stats read now (ContainerStats, or a container
    /// that started after the kept pass).
    pub(crate) fn stats_of(&self, record: &ContainerRecord) -> cri::ContainerStats {
        let targets = Targets {
            containers: vec![container_target(record)],
            pods: Vec::new(),
        };
        let usage = snapshot::sample(&targets, &self.runtime.cpu)
            .containers
            .remove(&record.id)
            .unwrap_or_default();
        self.container_stats(record, &usage)
    }

    /// A container's stats from `pass`, or read now if it is not in it.
    pub(crate) fn stats_in(
        &self,
        pass: &Snapshot,
        record: &ContainerRecord,
    ) -> cri::ContainerStats {
        match pass.containers.get(&record.id) {
            Some(usage) => self.container_stats(record, usage),
            None => self.stats_of(record),
        }
    }

    fn container_stats(
        &self,
        record: &ContainerRecord,
        usage: &ContainerUsage,
    ) -> cri::ContainerStats {
        let now = usage.timestamp;
        cri::ContainerStats {
            attributes: Some(cri::ContainerAttributes {
                id: record.id.clone(),
                metadata: record.config.metadata.clone(),
                labels: record.config.labels.clone(),
                annotations: record.config.annotations.clone(),
            }),
            cpu: Some(cpu_usage(now, &usage.usage, usage.nano_cores)),
            memory: Some(memory_usage(now, &usage.usage)),
            writable_layer: self.writable_layer(now, &record.typed_id()),
            swap: None,
            // I/O usage (with its pressure) is not reported yet.
            io: None,
        }
    }
    /// Bytes and inodes of the container's overlay upper dir, from the
    /// image store (a bounded walk, cached for a moment per container).
    /// `None` when the container has no writable layer (yet, or any more).
    fn writable_layer(&self, now: i64, id: &ContainerId) -> Option<cri::FilesystemUsage> {
        let images = self.runtime.ctx.images().ok()?;
        let usage = match images.writable_usage(id.as_str()) {
            Ok(usage) => usage,
            Err(cradle_snapshotter::Error::NoWritableLayer(_)) => return None,
            Err(e) => {
                tracing::warn!(container = %id, "writable layer usage: {e}");
                return None;
            }
        };
        Some(cri::FilesystemUsage {
            timestamp: now,
            // Where the image store keeps every writable layer, as
            // ImageFsInfo.container_filesystems names it.
            fs_id: Some(cri::FilesystemIdentifier {
                mountpoint: self.runtime.ctx.config.root.to_string_lossy().into_owned(),
            }),
            used_bytes: value(Some(usage.bytes)),
            inodes_used: value(Some(usage.inodes)),
        })
    }

    pub(crate) fn container_stats_impl(
        &self,
        req: cri::ContainerStatsRequest,
    ) -> Result<cri::ContainerStatsResponse, Status> {
        let id = ContainerId::new(required(&req.container_id, "container_id")?);
        self.runtime.container_call_span(&id);
        let record = self.runtime.containers.get_shared(&id)?;
        Ok(cri::ContainerStatsResponse {
            stats: Some(self.stats_of(&record)),
        })
    }

    pub(crate) fn list_container_stats_impl(
        &self,
        req: cri::ListContainerStatsRequest,
    ) -> cri::ListContainerStatsResponse {
        let filter = req.filter.unwrap_or_default();
        let records = self.runtime.containers.list_shared();
        let matching: Vec<&Arc<ContainerRecord>> = records
            .iter()
            .filter(|r| r.state == ContainerState::Running)
            .filter(|r| id_matches(&r.id, &filter.id))
            .filter(|r| id_matches(&r.sandbox_id, &filter.pod_sandbox_id))
            .filter(|r| labels_match(&r.config.labels, &filter.label_selector))
            .collect();
        // A filter by id names one container: read it now (as
        // ContainerStats does) rather than serve or refresh the shared pass.
        if !filter.id.is_empty() {
            let stats = matching.iter().map(|r| self.stats_of(r)).collect();
            return cri::ListContainerStatsResponse { stats };
        }
        if matching.is_empty() {
            return cri::ListContainerStatsResponse { stats: Vec::new() };
        }
        let pass = self.stats_pass();
        let stats = matching.iter().map(|r| self.stats_in(&pass, r)).collect();
        cri::ListContainerStatsResponse { stats }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_sample_always_carries_a_rate_and_no_sample_none() {
        let sample = CgroupSample {
            cpu_usage_ns: Some(5_000),
            ..CgroupSample::default()
        };
        let first = cpu_usage(7, &sample, None);
        assert_eq!(first.usage_nano_cores.map(|v| v.value), Some(0));
        assert_eq!(first.usage_core_nano_seconds.map(|v| v.value), Some(5_000));
        let later = cpu_usage(8, &sample, Some(250));
        assert_eq!(later.usage_nano_cores.map(|v| v.value), Some(250));
        let unread = cpu_usage(9, &CgroupSample::default(), Some(250));
        assert_eq!(unread.usage_nano_cores, None);
        assert_eq!(unread.usage_core_nano_seconds, None);
    }
}
