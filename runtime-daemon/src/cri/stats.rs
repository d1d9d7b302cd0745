//! ContainerStats and ListContainerStats: CPU and memory from the
//! container's cgroup sample ([`crate::stats`] reads it), the writable
//! layer's usage from the image store.

use super::filter::{id_matches, labels_match};
use super::{CriService, required};
use crate::containers::ContainerRecord;
use crate::core::ids::ContainerId;
use crate::stats::cgroup::CgroupSample;
use crate::stats::sample::container_usage;
use cradle_proto::cri;
use tonic::Status;

pub(crate) fn value(v: Option<u64>) -> Option<cri::UInt64Value> {
    v.map(|value| cri::UInt64Value { value })
}

/// The CRI CPU usage of a cgroup sample, with the rate the tracker derived.
pub(crate) fn cpu_usage(now: i64, sample: &CgroupSample, nano_cores: Option<u64>) -> cri::CpuUsage {
    cri::CpuUsage {
        timestamp: now,
        usage_core_nano_seconds: value(sample.cpu_usage_ns),
        usage_nano_cores: value(nano_cores),
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

impl CriService {
    pub(crate) fn stats_of(&self, record: &ContainerRecord) -> cri::ContainerStats {
        let now = crate::core::time::now_ns();
        // Records from before cgroup paths were kept have none: the sample
        // is empty rather than the root cgroup's usage.
        let sample = container_usage(&record.cgroup_path);
        let nano_cores = sample
            .cpu_usage_ns
            .and_then(|usage| self.runtime.cpu.rate(&record.id, now, usage));
        cri::ContainerStats {
            attributes: Some(cri::ContainerAttributes {
                id: record.id.clone(),
                metadata: record.config.metadata.clone(),
                labels: record.config.labels.clone(),
                annotations: record.config.annotations.clone(),
            }),
            cpu: Some(cpu_usage(now, &sample, nano_cores)),
            memory: Some(memory_usage(now, &sample)),
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
        let id = required(&req.container_id, "container_id")?;
        let record = self.runtime.containers.get(&ContainerId::new(id))?;
        Ok(cri::ContainerStatsResponse {
            stats: Some(self.stats_of(&record)),
        })
    }

    pub(crate) fn list_container_stats_impl(
        &self,
        req: cri::ListContainerStatsRequest,
    ) -> cri::ListContainerStatsResponse {
        let filter = req.filter.unwrap_or_default();
        let records = self.runtime.containers.list();
        let live: std::collections::HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
        self.runtime.cpu.retain(&|id| live.contains(id));
        let stats = records
            .iter()
            .filter(|r| r.state == crate::containers::ContainerState::Running)
            .filter(|r| id_matches(&r.id, &filter.id))
            .filter(|r| id_matches(&r.sandbox_id, &filter.pod_sandbox_id))
            .filter(|r| labels_match(&r.config.labels, &filter.label_selector))
            .map(|r| self.stats_of(r))
            .collect();
        cri::ListContainerStatsResponse { stats }
    }
}
