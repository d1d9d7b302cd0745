//! cgroup v2: one directory in the unified hierarchy.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::{CgroupError, convert, fs};

/// Controllers we enable along the path when the parent offers them.
const WANTED: [&str; 5] = ["cpu", "cpuset", "io", "memory", "pids"];

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
    fs::write(&dir.join("cgroup.subtree_control"), &enable.join(" "))
}

/// Writes the supported limits into `dir`. Device rules are not enforced
/// on v2 (that needs an eBPF program).
pub(super) fn apply(dir: &Path, res: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(mem) = res.memory() {
        if let Some(r) = mem.reservation() {
            fs::write(&dir.join("memory.low"), &convert::limit_v2(r))?;
        }
        if let Some(l) = mem.limit() {
            fs::write(&dir.join("memory.max"), &convert::limit_v2(l))?;
        }
        if let Some(s) = convert::swap_v2(mem.limit(), mem.swap()) {
            fs::write(&dir.join("memory.swap.max"), &s)?;
        }
    }
    if let Some(cpu) = res.cpu() {
        if let Some(s) = cpu.shares().filter(|s| *s > 0) {
            fs::write(
                &dir.join("cpu.weight"),
                &convert::shares_to_weight(s).to_string(),
            )?;
        }
        if let Some(v) = convert::cpu_max(cpu.quota(), cpu.period()) {
            fs::write(&dir.join("cpu.max"), &v)?;
        }
        if let Some(c) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
            fs::write(&dir.join("cpuset.cpus"), c)?;
        }
        if let Some(m) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
            fs::write(&dir.join("cpuset.mems"), m)?;
        }
    }
    if let Some(pids) = res.pids() {
        let v = if pids.limit() > 0 {
            pids.limit().to_string()
        } else {
            "max".into()
        };
        fs::write(&dir.join("pids.max"), &v)?;
    }
    if let Some(unified) = res.unified() {
        for (k, v) in unified {
            if k.contains('/') || k.starts_with('.') {
                return Err(CgroupError::Parse {
                    path: dir.join(k),
                    content: "unified key must be a plain file name".into(),
                });
            }
            fs::write(&dir.join(k), v)?;
        }
    }
    Ok(())
}
