//! cgroup v1: one directory per controller mount.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::{CgroupError, fs};

/// Lists the v1 controller mounts under `root` (skipping symlinks such as
/// `cpu -> cpu,cpuacct` and the cgroup2 `unified` mount).
pub(super) fn controller_mounts(root: &Path) -> Result<Vec<(String, PathBuf)>, CgroupError> {
    let entries = std::fs::read_dir(root).map_err(|source| CgroupError::Io {
        op: "read",
        path: root.to_path_buf(),
        source,
    })?;
    let mut mounts = Vec::new();
    for entry in entries.flatten() {
        let Ok(ft) = entry.file_type() else { continue };
        if !ft.is_dir() {
            continue;
        }
        let path = entry.path();
        if fs::is_cgroup1(&path) {
            mounts.push((entry.file_name().to_string_lossy().into_owned(), path));
        }
    }
    mounts.sort();
    Ok(mounts)
}

/// True when the mount named `mount` (e.g. `cpu,cpuacct`) carries `controller`.
pub(super) fn has_controller(mount: &str, controller: &str) -> bool {
    mount.split(',').any(|c| c == controller)
}

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

/// Writes the supported limits into the controllers that exist.
pub(super) fn apply(
    mounts: &[(String, PathBuf)],
    path: &str,
    res: &LinuxResources,
) -> Result<(), CgroupError> {
    let rel = path.trim_start_matches('/');
    let dir = |c: &str| find(mounts, c).map(|m| m.join(rel));

    if let (Some(mem), Some(d)) = (res.memory(), dir("memory")) {
        if let Some(r) = mem.reservation() {
            fs::write(&d.join("memory.soft_limit_in_bytes"), &r.to_string())?;
        }
        apply_memory_limits(&d, mem.limit(), mem.swap())?;
        if let Some(s) = mem.swappiness()
            && s <= 100
        {
            fs::write(&d.join("memory.swappiness"), &s.to_string())?;
        }
    }
    if let Some(cpu) = res.cpu() {
        if let Some(d) = dir("cpu") {
            if let Some(s) = cpu.shares().filter(|s| *s > 0) {
                fs::write(&d.join("cpu.shares"), &s.to_string())?;
            }
            if let Some(p) = cpu.period().filter(|p| *p > 0) {
                fs::write(&d.join("cpu.cfs_period_us"), &p.to_string())?;
            }
            if let Some(q) = cpu.quota().filter(|q| *q != 0) {
                fs::write(&d.join("cpu.cfs_quota_us"), &q.to_string())?;
            }
        }
        if let Some(d) = dir("cpuset") {
            if let Some(c) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
                fs::write(&d.join("cpuset.cpus"), c)?;
            }
            if let Some(m) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
                fs::write(&d.join("cpuset.mems"), m)?;
            }
        }
    }
    if let (Some(pids), Some(d)) = (res.pids(), dir("pids")) {
        let v = if pids.limit() > 0 {
            pids.limit().to_string()
        } else {
            "max".into()
        };
        fs::write(&d.join("pids.max"), &v)?;
    }
    if let (Some(devices), Some(d)) = (res.devices(), dir("devices")) {
        for rule in devices {
            let file = if rule.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            let mut line = rule.to_string();
            if rule.access().as_deref().unwrap_or("").is_empty() {
                line.push_str("rwm");
            }
            fs::write(&d.join(file), &line)?;
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
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comounted_controllers_are_found_by_name() {
        assert!(has_controller("cpu,cpuacct", "cpuacct"));
        assert!(has_controller("memory", "memory"));
        assert!(!has_controller("cpuset", "cpu"));
    }
}
