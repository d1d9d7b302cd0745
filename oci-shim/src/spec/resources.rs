//! `linux.resources`: cgroup limits and device rules, also what `update`
//! reads on its own.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::devices::LinuxDeviceType;

/// Every resource the cgroup library applies.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxResources {
    /// Device access rules, in order (the last match wins).
    pub devices: Option<Vec<LinuxDeviceCgroup>>,
    /// Memory limits.
    pub memory: Option<LinuxMemory>,
    /// CPU shares, quota and cpuset.
    pub cpu: Option<LinuxCpu>,
    /// The task limit.
    pub pids: Option<LinuxPids>,
    /// Block I/O weights and throttles.
    #[serde(rename = "blockIO")]
    pub block_io: Option<LinuxBlockIo>,
    /// Hugetlb limits per page size.
    pub hugepage_limits: Option<Vec<LinuxHugepageLimit>>,
    /// net_cls/net_prio (cgroup v1).
    pub network: Option<LinuxNetwork>,
    /// RDMA limits by device name.
    pub rdma: Option<HashMap<String, LinuxRdma>>,
    /// Raw cgroup v2 files to write.
    pub unified: Option<HashMap<String, String>>,
}

/// One device cgroup rule (also kept in the container's state, see
/// `oci::verbs::update`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct LinuxDeviceCgroup {
    /// Allow, or deny.
    #[serde(default)]
    pub allow: bool,
    /// Node kind; all when absent.
    #[serde(rename = "type")]
    pub typ: Option<LinuxDeviceType>,
    /// Any major when absent.
    pub major: Option<i64>,
    /// Any minor when absent.
    pub minor: Option<i64>,
    /// Some of `rwm`.
    pub access: Option<String>,
}

/// The v1 `devices.allow`/`devices.deny` line: `c 1:3 rw`, `*` for a
/// missing number, `a` for a missing type.
impl fmt::Display for LinuxDeviceCgroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = |n: Option<i64>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.typ.unwrap_or_default().as_str(),
            number(self.major),
            number(self.minor),
            self.access.as_deref().unwrap_or("")
        )
    }
}

/// `resources.memory` (bytes; -1 for unlimited).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxMemory {
    /// The hard limit.
    pub limit: Option<i64>,
    /// The soft limit (v2 `memory.low`).
    pub reservation: Option<i64>,
    /// Memory plus swap (v1 semantics).
    pub swap: Option<i64>,
    /// Kernel memory (v1 only, obsolete).
    pub kernel: Option<i64>,
    /// TCP buffer memory (v1 only).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: Option<i64>,
    /// v1 swappiness.
    pub swappiness: Option<u64>,
    /// v1 OOM killer switch.
    #[serde(rename = "disableOOMKiller")]
    pub disable_oom_killer: Option<bool>,
    /// v1 hierarchical accounting.
    pub use_hierarchy: Option<bool>,
    /// Refuse a limit below current usage.
    pub check_before_update: Option<bool>,
}

/// `resources.cpu`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxCpu {
    /// Relative weight (v1 shares, converted for v2).
    pub shares: Option<u64>,
    /// CFS quota per period, in µs.
    pub quota: Option<i64>,
    /// SCHED_IDLE for the cgroup.
    pub idle: Option<i64>,
    /// CFS burst, in µs.
    pub burst: Option<u64>,
    /// CFS period, in µs.
    pub period: Option<u64>,
    /// Realtime runtime, in µs (v1 only).
    pub realtime_runtime: Option<i64>,
    /// Realtime period, in µs (v1 only).
    pub realtime_period: Option<u64>,
    /// cpuset CPUs (`0-3,7`).
    pub cpus: Option<String>,
    /// cpuset memory nodes.
    pub mems: Option<String>,
}

/// `resources.pids`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct LinuxPids {
    /// Maximum tasks; 0 or less for unlimited.
    #[serde(default)]
    pub limit: i64,
}

/// `resources.blockIO`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxBlockIo {
    /// Default weight.
    pub weight: Option<u16>,
    /// Default leaf weight (v1 CFQ only).
    pub leaf_weight: Option<u16>,
    /// Per-device weights.
    pub weight_device: Option<Vec<LinuxWeightDevice>>,
    /// Read bytes per second, per device.
    pub throttle_read_bps_device: Option<Vec<LinuxThrottleDevice>>,
    /// Write bytes per second, per device.
    pub throttle_write_bps_device: Option<Vec<LinuxThrottleDevice>>,
    /// Read operations per second, per device.
    #[serde(rename = "throttleReadIOPSDevice")]
    pub throttle_read_iops_device: Option<Vec<LinuxThrottleDevice>>,
    /// Write operations per second, per device.
    #[serde(rename = "throttleWriteIOPSDevice")]
    pub throttle_write_iops_device: Option<Vec<LinuxThrottleDevice>>,
}

/// A per-device weight.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxWeightDevice {
    /// Device major number.
    #[serde(default)]
    pub major: i64,
    /// Device minor number.
    #[serde(default)]
    pub minor: i64,
    /// The weight.
    pub weight: Option<u16>,
    /// The leaf weight (v1 CFQ only).
    pub leaf_weight: Option<u16>,
}

/// A per-device throttle.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct LinuxThrottleDevice {
    /// Device major number.
    #[serde(default)]
    pub major: i64,
    /// Device minor number.
    #[serde(default)]
    pub minor: i64,
    /// Bytes or operations per second.
    #[serde(default)]
    pub rate: u64,
}

/// One hugetlb limit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxHugepageLimit {
    /// `2MB`, `1GB`…
    #[serde(default)]
    pub page_size: String,
    /// Bytes.
    #[serde(default)]
    pub limit: i64,
}

/// `resources.network`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LinuxNetwork {
    /// net_cls class id.
    #[serde(rename = "classID")]
    pub class_id: Option<u32>,
    /// net_prio priorities by interface.
    pub priorities: Option<Vec<LinuxInterfacePriority>>,
}

/// One interface's net_prio priority.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LinuxInterfacePriority {
    /// Interface name.
    #[serde(default)]
    pub name: String,
    /// Its priority.
    #[serde(default)]
    pub priority: u32,
}

/// One RDMA device's limits.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxRdma {
    /// HCA handles.
    pub hca_handles: Option<u32>,
    /// HCA objects.
    pub hca_objects: Option<u32>,
}
