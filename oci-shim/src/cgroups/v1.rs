//! cgroup v1: one directory per controller mount.

use std::path::{Path, PathBuf};

use cradle_cgroupfs::has_controller;

use super::error::CgroupError;
use super::fs;
use super::fs::{unsupported, write_field};
use crate::spec::{
    LinuxCpu, LinuxDeviceCgroup, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxResources,
};

fn find<'a>(mounts: &'a [(String, PathBuf)], controller: &str) -> Option<&'a Path> {
    mounts
        .iter()
        .find(|(n, _)| has_controller(n, controller))
        .map(|(_, p)| p.as_path())
}

/// `mkdir -p` of `path` in every mount; cpuset directories get the parent's
/// cpus and mems (a new cpuset is empty and refuses tasks otherwise).
pub(super) fn create(mounts: &[(String, PathBuf)], path: &str) -> Result<(), CgroupError> {
    for (name, mount) in mounts {
        let mut dir = mount.clone();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let parent = dir.clone();
            dir.push(part);
            let created = fs::mkdir(&dir)?;
            if has_controller(name, "cpuset") && (created || is_empty_cpuset(&dir)?) {
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    if let Some(v) = fs::read_optional(&parent.join(file))? {
                        fs::write(&dir.join(file), v.trim())?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn is_empty_cpuset(dir: &Path) -> Result<bool, CgroupError> {
    Ok(fs::read_optional(&dir.join("cpuset.cpus"))?
        .map(|s| s.trim().is_empty())
        .unwrap_or(false))
}

/// Writes every limit of `res`; a field whose controller is not mounted
/// or whose file this kernel lacks is an error naming it, but for the
/// hugepage limits that cannot weaken anything (returned as warnings, see
/// [`super::hugetlb`]). `unified` is a hybrid host's cgroup2 mount with
/// controllers (hugetlb on some kernels' layouts), used for what v1 lacks.
pub(super) fn apply(
    mounts: &[(String, PathBuf)],
    unified: Option<&Path>,
    path: &str,
    res: &LinuxResources,
) -> Result<Vec<String>, CgroupError> {
    let mut warnings = Vec::new();
    let dirs = Dirs {
        mounts,
        rel: path.trim_start_matches('/'),
    };
    if let Some(mem) = &res.memory {
        apply_memory(&dirs.need("memory", "memory")?, mem)?;
    }
    if let Some(cpu) = &res.cpu {
        apply_cpu(&dirs, cpu)?;
    }
    if let Some(pids) = &res.pids {
        let v = if pids.limit > 0 {
            pids.limit.to_string()
        } else {
            "max".into()
        };
        write_field(
            &dirs.need("pids", "pids")?.join("pids.max"),
            &v,
            "pids.limit",
        )?;
    }
    if let Some(devices) = res.devices.as_ref().filter(|d| !d.is_empty()) {
        apply_devices(&dirs.need("devices", "devices")?, devices)?;
    }
    if let Some(b) = &res.block_io {
        super::blockio::apply_v1(dirs.dir("blkio").as_deref(), b)?;
    }
    if let Some(h) = &res.hugepage_limits {
        warnings.extend(apply_hugetlb(&dirs, unified, h)?);
    }
    if let Some(r) = &res.rdma {
        super::rdma::apply(dirs.dir("rdma").as_deref(), r)?;
    }
    if let Some(n) = &res.network {
        apply_network(&dirs, n)?;
    }
    if res.unified.as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(unsupported(
            "unified",
            "cgroup v2 keys cannot be written on a cgroup v1 host",
        ));
    }
    Ok(warnings)
}

/// One cgroup's directory in each controller's mount.
struct Dirs<'a> {
    mounts: &'a [(String, PathBuf)],
    /// The cgroup path, relative to a mount.
    rel: &'a str,
}

impl Dirs<'_> {
    /// The cgroup's directory for `controller`; `None` when it is not mounted.
    fn dir(&self, controller: &str) -> Option<PathBuf> {
        find(self.mounts, controller).map(|m| m.join(self.rel))
    }

    /// The directory for `controller`, which `field` of the spec needs.
    fn need(&self, controller: &str, field: &str) -> Result<PathBuf, CgroupError> {
        self.dir(controller)
            .ok_or_else(|| unsupported(field, format!("no {controller} controller is mounted")))
    }
}

/// Device rules in order, each to `devices.allow` or `devices.deny` (no
/// access letters meaning all of them).
fn apply_devices(d: &Path, devices: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
    for rule in devices {
        let file = if rule.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        let mut line = rule.to_string();
        if rule.access.as_deref().unwrap_or("").is_empty() {
            line.push_str("rwm");
        }
        fs::write(&d.join(file), &line)?;
    }
    Ok(())
}

/// Hugepage limits through the v1 hugetlb controller, else the hybrid
/// host's cgroup2 one; returns the warning when they could not be set.
fn apply_hugetlb(
    dirs: &Dirs,
    unified: Option<&Path>,
    limits: &[LinuxHugepageLimit],
) -> Result<Option<String>, CgroupError> {
    let v1_dir = dirs.dir("hugetlb");
    let unified_dir = unified
        .filter(|u| cradle_cgroupfs::hierarchy::offers_controller(u, "hugetlb"))
        .map(|u| u.join(dirs.rel));
    let target = match (&v1_dir, &unified_dir) {
        (Some(d), _) => super::hugetlb::Target::V1(d),
        (None, Some(d)) => super::hugetlb::Target::V2(d),
        (None, None) => super::hugetlb::Target::Missing,
    };
    let sysfs = Path::new(super::hugetlb::HUGEPAGES_SYSFS);
    super::hugetlb::apply(target, limits, sysfs)
}

/// The network class id (net_cls) and interface priorities (net_prio).
fn apply_network(dirs: &Dirs, n: &LinuxNetwork) -> Result<(), CgroupError> {
    if let Some(id) = n.class_id {
        let d = dirs.need("net_cls", "network.classID")?;
        write_field(
            &d.join("net_cls.classid"),
            &id.to_string(),
            "network.classID",
        )?;
    }
    for p in n.priorities.as_deref().unwrap_or(&[]) {
        let d = dirs.need("net_prio", "network.priorities")?;
        let line = format!("{} {}", p.name, p.priority);
        write_field(&d.join("net_prio.ifpriomap"), &line, "network.priorities")?;
    }
    Ok(())
}

fn apply_memory(d: &Path, mem: &LinuxMemory) -> Result<(), CgroupError> {
    if mem.check_before_update == Some(true)
        && let Some(l) = mem.limit.filter(|l| *l > 0)
    {
        let usage = fs::read_optional(&d.join("memory.usage_in_bytes"))?.unwrap_or_default();
        if usage.trim().parse::<i64>().is_ok_and(|u| l < u) {
            return Err(unsupported(
                "memory.limit",
                format!(
                    "{l} is below the current usage {} (checkBeforeUpdate)",
                    usage.trim()
                ),
            ));
        }
    }
    if let Some(r) = mem.reservation {
        write_field(
            &d.join("memory.soft_limit_in_bytes"),
            &r.to_string(),
            "memory.reservation",
        )?;
    }
    apply_memory_limits(d, mem.limit, mem.swap)?;
    match mem.swappiness {
        // -1 in the spec's Go origin: "leave the kernel's value".
        None | Some(u64::MAX) => {}
        Some(s) if s <= 100 => write_field(
            &d.join("memory.swappiness"),
            &s.to_string(),
            "memory.swappiness",
        )?,
        Some(s) => {
            return Err(unsupported(
                "memory.swappiness",
                format!("{s} is not within 0..=100"),
            ));
        }
    }
    if let Some(k) = mem.kernel {
        write_field(
            &d.join("memory.kmem.limit_in_bytes"),
            &k.to_string(),
            "memory.kernel",
        )?;
    }
    if let Some(k) = mem.kernel_tcp {
        write_field(
            &d.join("memory.kmem.tcp.limit_in_bytes"),
            &k.to_string(),
            "memory.kernelTCP",
        )?;
    }
    if mem.disable_oom_killer == Some(true) {
        write_field(
            &d.join("memory.oom_control"),
            "1",
            "memory.disableOOMKiller",
        )?;
    }
    if let Some(h) = mem.use_hierarchy {
        let v = if h { "1" } else { "0" };
        write_field(&d.join("memory.use_hierarchy"), v, "memory.useHierarchy")?;
    }
    Ok(())
}

fn apply_cpu(dirs: &Dirs, cpu: &LinuxCpu) -> Result<(), CgroupError> {
    let cpu_dir = || dirs.need("cpu", "cpu");
    let writes: [(&str, &str, Option<String>); 6] = [
        (
            "cpu.shares",
            "cpu.shares",
            cpu.shares.filter(|s| *s > 0).map(|v| v.to_string()),
        ),
        (
            "cpu.period",
            "cpu.cfs_period_us",
            cpu.period.filter(|p| *p > 0).map(|v| v.to_string()),
        ),
        (
            "cpu.quota",
            "cpu.cfs_quota_us",
            cpu.quota.filter(|q| *q != 0).map(|v| v.to_string()),
        ),
        (
            "cpu.burst",
            "cpu.cfs_burst_us",
            cpu.burst.map(|v| v.to_string()),
        ),
        ("cpu.idle", "cpu.idle", cpu.idle.map(|v| v.to_string())),
        // The period first: the kernel checks runtime against it.
        (
            "cpu.realtimePeriod",
            "cpu.rt_period_us",
            cpu.realtime_period.map(|v| v.to_string()),
        ),
    ];
    for (field, file, value) in writes {
        if let Some(v) = value {
            write_field(&cpu_dir()?.join(file), &v, field)?;
        }
    }
    if let Some(r) = cpu.realtime_runtime {
        write_field(
            &cpu_dir()?.join("cpu.rt_runtime_us"),
            &r.to_string(),
            "cpu.realtimeRuntime",
        )?;
    }
    let cpus = cpu.cpus.as_deref().filter(|c| !c.is_empty());
    let mems = cpu.mems.as_deref().filter(|m| !m.is_empty());
    if cpus.is_some() || mems.is_some() {
        let d = dirs.need("cpuset", "cpu.cpus")?;
        if let Some(c) = cpus {
            write_field(&d.join("cpuset.cpus"), c, "cpu.cpus")?;
        }
        if let Some(m) = mems {
            write_field(&d.join("cpuset.mems"), m, "cpu.mems")?;
        }
    }
    Ok(())
}

/// Memory limit and memory+swap: the kernel requires memsw >= limit at
/// every moment, so the order depends on whether limits grow or shrink.
fn apply_memory_limits(
    dir: &Path,
    limit: Option<i64>,
    swap: Option<i64>,
) -> Result<(), CgroupError> {
    let limit_file = dir.join("memory.limit_in_bytes");
    let swap_file = dir.join("memory.memsw.limit_in_bytes");
    let has_swap_file = swap_file.exists();
    match (limit, swap) {
        (Some(l), Some(s)) if has_swap_file => {
            // Try limit first (shrinking); if refused, raise memsw first.
            if fs::write(&limit_file, &l.to_string()).is_err() {
                fs::write(&swap_file, &s.to_string())?;
                fs::write(&limit_file, &l.to_string())?;
            } else {
                fs::write(&swap_file, &s.to_string())?;
            }
        }
        (Some(l), _) => {
            fs::write(&limit_file, &l.to_string())?;
            // Without an explicit swap value runc sets memsw = limit only
            // when asked; we leave swap accounting as the kernel has it.
        }
        (None, Some(s)) if has_swap_file => fs::write(&swap_file, &s.to_string())?,
        // No swap accounting: "unlimited" holds anyway, a limit cannot.
        (_, Some(s)) if s != -1 => {
            return Err(unsupported(
                "memory.swap",
                format!(
                    "this host has no {} (swap accounting is off)",
                    swap_file.display()
                ),
            ));
        }
        _ => {}
    }
    Ok(())
}
