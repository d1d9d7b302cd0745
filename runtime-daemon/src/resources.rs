//! UpdateContainerResources: new CPU, memory and cpuset limits written into a
//! running container's cgroup (cgroup v1 per-controller hierarchies, or v2
//! with runc's shares → weight conversion). Hugepage and swap limits are
//! refused rather than silently dropped.

use cradle_proto::cri;
use std::path::{Path, PathBuf};

/// One file write: path and content.
type Write = (PathBuf, String);

/// The writes that apply `res` to the cgroup `cgroup_path` under `root`
/// (`/sys/fs/cgroup`), in order; an error names what is not supported.
pub fn plan(
    root: &Path,
    cgroup_path: &str,
    res: &cri::LinuxContainerResources,
) -> Result<Vec<Write>, String> {
    if !res.hugepage_limits.is_empty() {
        return Err("hugepage limits are not supported yet".into());
    }
    if res.memory_swap_limit_in_bytes > 0 {
        return Err("swap limits are not supported yet".into());
    }
    let rel = cgroup_path.trim_start_matches('/');
    if rel.is_empty() {
        return Err("the container has no cgroup path".into());
    }
    let mut writes: Vec<Write> = Vec::new();
    if root.join("cgroup.controllers").exists() {
        let dir = root.join(rel);
        let mut put = |file: &str, value: String| writes.push((dir.join(file), value));
        if res.cpu_shares > 0 {
            // runc's conversion of shares [2, 262144] to weight [1, 10000].
            let shares = res.cpu_shares.clamp(2, 262_144);
            put(
                "cpu.weight",
                (1 + ((shares - 2) * 9999) / 262_142).to_string(),
            );
        }
        if res.cpu_quota != 0 || res.cpu_period > 0 {
            let quota = if res.cpu_quota > 0 {
                res.cpu_quota.to_string()
            } else {
                "max".to_string()
            };
            let period = if res.cpu_period > 0 {
                res.cpu_period
            } else {
                100_000
            };
            put("cpu.max", format!("{quota} {period}"));
        }
        if res.memory_limit_in_bytes > 0 {
            put("memory.max", res.memory_limit_in_bytes.to_string());
        }
        if !res.cpuset_cpus.is_empty() {
            put("cpuset.cpus", res.cpuset_cpus.clone());
        }
        if !res.cpuset_mems.is_empty() {
            put("cpuset.mems", res.cpuset_mems.clone());
        }
        let mut unified: Vec<_> = res.unified.iter().collect();
        unified.sort();
        for (key, value) in unified {
            if key.contains('/') || key.starts_with('.') {
                return Err(format!("unified key {key:?} is not a cgroup file name"));
            }
            put(key, value.clone());
        }
    } else {
        if !res.unified.is_empty() {
            return Err("unified resources need cgroup v2".into());
        }
        let at = |controller: &str, file: &str| root.join(controller).join(rel).join(file);
        if res.cpu_shares > 0 {
            writes.push((at("cpu", "cpu.shares"), res.cpu_shares.to_string()));
        }
        if res.cpu_period > 0 {
            writes.push((at("cpu", "cpu.cfs_period_us"), res.cpu_period.to_string()));
        }
        if res.cpu_quota != 0 {
            writes.push((at("cpu", "cpu.cfs_quota_us"), res.cpu_quota.to_string()));
        }
        if res.memory_limit_in_bytes > 0 {
            writes.push((
                at("memory", "memory.limit_in_bytes"),
                res.memory_limit_in_bytes.to_string(),
            ));
        }
        if !res.cpuset_cpus.is_empty() {
            writes.push((at("cpuset", "cpuset.cpus"), res.cpuset_cpus.clone()));
        }
        if !res.cpuset_mems.is_empty() {
            writes.push((at("cpuset", "cpuset.mems"), res.cpuset_mems.clone()));
        }
    }
    Ok(writes)
}

/// Performs the writes; each file must exist (a cgroup is never created here).
pub fn apply(writes: &[Write]) -> Result<(), String> {
    for (path, value) in writes {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| format!("opening {}: {e}", path.display()))?;
        std::io::Write::write_all(&mut file, value.as_bytes())
            .map_err(|e| format!("writing {value:?} to {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res() -> cri::LinuxContainerResources {
        cri::LinuxContainerResources {
            cpu_shares: 512,
            cpu_quota: 50_000,
            cpu_period: 100_000,
            memory_limit_in_bytes: 64 << 20,
            cpuset_cpus: "0".into(),
            ..Default::default()
        }
    }

    #[test]
    fn v1_writes_go_to_each_controller() {
        let root = tempfile::tempdir().unwrap();
        let writes = plan(root.path(), "/pods/c1", &res()).unwrap();
        let rel: Vec<(String, &str)> = writes
            .iter()
            .map(|(p, v)| {
                (
                    p.strip_prefix(root.path()).unwrap().display().to_string(),
                    v.as_str(),
                )
            })
            .collect();
        assert_eq!(
            rel,
            [
                ("cpu/pods/c1/cpu.shares".to_string(), "512"),
                ("cpu/pods/c1/cpu.cfs_period_us".to_string(), "100000"),
                ("cpu/pods/c1/cpu.cfs_quota_us".to_string(), "50000"),
                (
                    "memory/pods/c1/memory.limit_in_bytes".to_string(),
                    "67108864"
                ),
                ("cpuset/pods/c1/cpuset.cpus".to_string(), "0"),
            ]
        );
    }

    #[test]
    fn v2_converts_shares_and_writes_cpu_max() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "cpu memory").unwrap();
        let writes = plan(root.path(), "/pods/c1", &res()).unwrap();
        let get = |f: &str| {
            writes
                .iter()
                .find(|(p, _)| p.ends_with(f))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("cpu.weight"), Some("20"));
        assert_eq!(get("cpu.max"), Some("50000 100000"));
        assert_eq!(get("memory.max"), Some("67108864"));
    }

    #[test]
    fn apply_writes_existing_files_and_refuses_missing_ones() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("memory/pods/c1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.limit_in_bytes"), "0").unwrap();
        let only_memory = cri::LinuxContainerResources {
            memory_limit_in_bytes: 1 << 20,
            ..Default::default()
        };
        apply(&plan(root.path(), "/pods/c1", &only_memory).unwrap()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("memory.limit_in_bytes")).unwrap(),
            "1048576"
        );
        assert!(apply(&plan(root.path(), "/pods/c1", &res()).unwrap()).is_err());
    }

    #[test]
    fn unsupported_limits_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let swap = cri::LinuxContainerResources {
            memory_swap_limit_in_bytes: 1,
            ..Default::default()
        };
        assert!(plan(root.path(), "/c", &swap).is_err());
        assert!(plan(root.path(), "", &res()).is_err());
    }
}
