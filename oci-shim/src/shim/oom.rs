//! OOM-kill detection for a container, from its memory cgroup's counters.
//!
//! The kernel counts OOM kills per memory cgroup: the `oom_kill` line of
//! `memory.oom_control` (cgroup v1) or `memory.events` (v2). The shim reads
//! the count after `create` and again when the init exits; a rise means the
//! OOM killer ended the container (the CRI reason `OOMKilled`).
//! A `cgroupsPath` in the systemd driver's `slice:prefix:name` form is the
//! scope's cgroup (`crate::cgroups::systemd::Unit`).

use std::fs;
use std::path::{Path, PathBuf};

use cradle_cgroupfs::CGROUP_ROOT;
use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};

/// The OOM-kill counter of one container cgroup and its value at start.
#[derive(Debug, Clone)]
pub struct OomWatch {
    counter_file: PathBuf,
    baseline: u64,
}

impl OomWatch {
    /// Watch the memory cgroup named by the bundle's `linux.cgroupsPath`;
    /// `None` when there is none or its counter cannot be read.
    pub fn for_bundle(bundle: &Path) -> Option<OomWatch> {
        let config = fs::read(bundle.join("config.json")).ok()?;
        let config: serde_json::Value = serde_json::from_slice(&config).ok()?;
        let cgroups_path = config["linux"]["cgroupsPath"].as_str()?;
        if cgroups_path.is_empty() {
            return None;
        }
        let scope;
        let cgroups_path = if cgroups_path.contains(':') {
            scope = crate::cgroups::systemd::Unit::from_cgroups_path(cgroups_path, "").ok()?;
            scope.cgroup_path()
        } else {
            cgroups_path
        };
        let relative = cgroups_path.trim_start_matches('/');
        let v2 = statfs(CGROUP_ROOT)
            .map(|fs| fs.filesystem_type() == CGROUP2_SUPER_MAGIC)
            .unwrap_or(false);
        let counter_file = if v2 {
            Path::new(CGROUP_ROOT).join(relative).join("memory.events")
        } else {
            Path::new(CGROUP_ROOT)
                .join("memory")
                .join(relative)
                .join("memory.oom_control")
        };
        let baseline = read_oom_kills(&counter_file)?;
        Some(OomWatch {
            counter_file,
            baseline,
        })
    }

    /// True when the counter rose since the watch began.
    pub fn oom_killed(&self) -> bool {
        read_oom_kills(&self.counter_file).is_some_and(|count| count > self.baseline)
    }
}

fn read_oom_kills(path: &Path) -> Option<u64> {
    parse_oom_kills(&fs::read_to_string(path).ok()?)
}

/// The `oom_kill N` line of `memory.oom_control` or `memory.events`.
fn parse_oom_kills(text: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == "oom_kill").then(|| value.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_kill_count_is_read_from_v1_oom_control() {
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(parse_oom_kills(text), Some(2));
    }

    #[test]
    fn oom_kill_count_is_read_from_v2_memory_events() {
        let text = "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(parse_oom_kills(text), Some(1));
    }

    #[test]
    fn missing_counter_is_none() {
        assert_eq!(parse_oom_kills("under_oom 0\n"), None);
    }

    #[test]
    fn bundle_without_cgroups_path_has_no_watch() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("config.json"), br#"{"linux":{}}"#).unwrap();
        assert!(OomWatch::for_bundle(dir.path()).is_none());
    }
}
