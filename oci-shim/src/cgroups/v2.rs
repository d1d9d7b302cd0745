//! cgroup v2: one directory in the unified hierarchy.

use std::path::Path;

use super::error::CgroupError;
use super::fs::{unsupported, write_field};
use super::{convert, fs};
use crate::spec::{LinuxCpu, LinuxMemory, LinuxResources};

/// Controllers we enable along the path when the parent offers them.
const WANTED: [&str; 7] = ["cpu", "cpuset", "hugetlb", "io", "memory", "pids", "rdma"];

/// Creates each directory of `path`, enabling in every ancestor's
/// `cgroup.subtree_control` the wanted controllers it has.
pub(super) fn create(root: &Path, path: &str) -> Result<(), CgroupError> {
    let mut dir = root.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        enable_controllers(&dir)?;
        dir.push(part);
        fs::mkdir(&dir)?;
    }
    Ok(())
}

fn enable_controllers(dir: &Path) -> Result<(), CgroupError> {
    let available = fs::read_optional(&dir.join("cgroup.controllers"))?.unwrap_or_default();
    let enable: Vec<String> = available
        .split_whitespace()
        .filter(|c| WANTED.contains(c))
        .map(|c| format!("+{c}"))
        .collect();
    if enable.is_empty() {
        return Ok(());
    }
    let file = dir.join("cgroup.subtree_control");
    if fs::write(&file, &enable.join(" ")).is_ok() {
        return Ok(());
    }
    // One refused controller fails the whole write (a cpuset a parent
    // cannot delegate, an rdma without devices): as runc, enable each one
    // alone, and let the limits that need a missing one name it.
    for c in &enable {
        let _ = fs::write(&file, c);
    }
    Ok(())
}

/// Writes every limit of `res` into `dir`; what v2 has no file for
/// (swappiness, the OOM killer switch, kernel memory, realtime, net_cls)
/// or this host lacks is an error naming the field. Device rules are the
/// caller's ([`super::Cgroup::apply`] loads them as an eBPF program).
/// Returns the warnings of hugepage limits skipped by [`super::hugetlb`]'s rule.
pub(super) fn apply(dir: &Path, res: &LinuxResources) -> Result<Vec<String>, CgroupError> {
    let mut warnings = Vec::new();
    if let Some(mem) = &res.memory {
        apply_memory(dir, mem)?;
    }
    if let Some(cpu) = &res.cpu {
        apply_cpu(dir, cpu)?;
    }
    if let Some(pids) = &res.pids {
        let v = if pids.limit > 0 {
            pids.limit.to_string()
        } else {
            "max".into()
        };
        write_field(&dir.join("pids.max"), &v, "pids.limit")?;
    }
    if let Some(b) = &res.block_io {
        super::blockio::apply_v2(dir, b)?;
    }
    if let Some(h) = &res.hugepage_limits {
        let target = super::hugetlb::Target::V2(dir);
        let sysfs = Path::new(super::hugetlb::HUGEPAGES_SYSFS);
        warnings.extend(super::hugetlb::apply(target, h, sysfs)?);
    }
    if let Some(r) = &res.rdma {
        super::rdma::apply(Some(dir), r)?;
    }
    if let Some(n) = &res.network
        && (n.class_id.is_some() || n.priorities.as_ref().is_some_and(|p| !p.is_empty()))
    {
        return Err(unsupported(
            "network",
            "cgroup v2 has no net_cls/net_prio controllers",
        ));
    }
    if let Some(unified) = &res.unified {
        let mut keys: Vec<_> = unified.iter().collect();
        keys.sort();
        for (k, v) in keys {
            if k.contains('/') || k.starts_with('.') || k.is_empty() {
                return Err(CgroupError::Parse {
                    path: dir.join(k),
                    content: "unified key must be a plain file name".into(),
                });
            }
            write_field(&dir.join(k), v, &format!("unified.{k}"))?;
        }
    }
    Ok(warnings)
}

fn apply_memory(dir: &Path, mem: &LinuxMemory) -> Result<(), CgroupError> {
    let refuse = |field: &str, why: &str| Err(unsupported(field, why));
    if mem.swappiness.is_some_and(|s| s != u64::MAX) {
        return refuse(
            "memory.swappiness",
            "cgroup v2 has no per-cgroup swappiness",
        );
    }
    if mem.disable_oom_killer == Some(true) {
        return refuse(
            "memory.disableOOMKiller",
            "cgroup v2 cannot disable the OOM killer",
        );
    }
    if mem.kernel.is_some() || mem.kernel_tcp.is_some() {
        return refuse(
            "memory.kernel",
            "cgroup v2 has no separate kernel memory limit",
        );
    }
    if mem.use_hierarchy == Some(false) {
        return refuse("memory.useHierarchy", "cgroup v2 is always hierarchical");
    }
    if mem.check_before_update == Some(true)
        && let Some(l) = mem.limit.filter(|l| *l > 0)
    {
        let usage = fs::read_optional(&dir.join("memory.current"))?.unwrap_or_default();
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
            &dir.join("memory.low"),
            &convert::limit_v2(r),
            "memory.reservation",
        )?;
    }
    if let Some(l) = mem.limit {
        write_field(
            &dir.join("memory.max"),
            &convert::limit_v2(l),
            "memory.limit",
        )?;
    }
    let swap =
        convert::swap_v2(mem.limit, mem.swap).map_err(|why| unsupported("memory.swap", why))?;
    if let Some(s) = swap {
        match write_field(&dir.join("memory.swap.max"), &s, "memory.swap") {
            // As runc: without swap accounting, "no swap" and "unlimited
            // swap" are what the host gives anyway.
            Err(CgroupError::Unsupported { .. }) if s == "max" || s == "0" => {}
            other => other?,
        }
    }
    Ok(())
}

fn apply_cpu(dir: &Path, cpu: &LinuxCpu) -> Result<(), CgroupError> {
    if cpu.realtime_runtime.is_some() || cpu.realtime_period.is_some() {
        return Err(unsupported(
            "cpu.realtimeRuntime",
            "cgroup v2 has no realtime group scheduling interface",
        ));
    }
    if let Some(s) = cpu.shares.filter(|s| *s > 0) {
        let w = convert::shares_to_weight(s).to_string();
        write_field(&dir.join("cpu.weight"), &w, "cpu.shares")?;
    }
    if let Some(v) = convert::cpu_max(cpu.quota, cpu.period) {
        write_field(&dir.join("cpu.max"), &v, "cpu.quota")?;
    }
    if let Some(b) = cpu.burst {
        write_field(&dir.join("cpu.max.burst"), &b.to_string(), "cpu.burst")?;
    }
    if let Some(i) = cpu.idle {
        write_field(&dir.join("cpu.idle"), &i.to_string(), "cpu.idle")?;
    }
    if let Some(c) = cpu.cpus.as_deref().filter(|c| !c.is_empty()) {
        write_field(&dir.join("cpuset.cpus"), c, "cpu.cpus")?;
    }
    if let Some(m) = cpu.mems.as_deref().filter(|m| !m.is_empty()) {
        write_field(&dir.join("cpuset.mems"), m, "cpu.mems")?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "v2_tests.rs"]
mod tests;
