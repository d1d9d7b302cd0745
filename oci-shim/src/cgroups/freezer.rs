//! Freezing and thawing a cgroup: v1 `freezer.state` (`FROZEN`/`THAWED`,
//! passing through `FREEZING`), v2 `cgroup.freeze` with the outcome in the
//! `frozen` key of `cgroup.events`. Both are asynchronous in the kernel,
//! so each change is polled until it has taken effect (bounded).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cradle_cgroupfs::parse::keyed_value;
use cradle_cgroupfs::{Hierarchy, has_controller};

use super::error::CgroupError;
use super::fs;

/// How long a freeze or thaw may take before it is reported as failed.
const SETTLE: Duration = Duration::from_secs(2);

/// The file that holds the freezer state, and whether it is v2.
fn freezer_dir(hierarchy: &Hierarchy, path: &str) -> Result<(PathBuf, bool), CgroupError> {
    let rel = path.trim_start_matches('/');
    match hierarchy {
        Hierarchy::V2 { root } => Ok((root.join(rel), true)),
        Hierarchy::V1 { mounts, .. } => mounts
            .iter()
            .find(|(n, _)| has_controller(n, "freezer"))
            .map(|(_, m)| (m.join(rel), false))
            .ok_or(CgroupError::NoHierarchy),
    }
}

/// True when the cgroup is (completely) frozen; false when absent.
pub(super) fn is_frozen(hierarchy: &Hierarchy, path: &str) -> Result<bool, CgroupError> {
    let (dir, v2) = freezer_dir(hierarchy, path)?;
    read_frozen(&dir, v2)
}

fn read_frozen(dir: &Path, v2: bool) -> Result<bool, CgroupError> {
    if v2 {
        let events = fs::read_optional(&dir.join("cgroup.events"))?.unwrap_or_default();
        Ok(keyed_value(&events, "frozen") == Some(1))
    } else {
        let state = fs::read_optional(&dir.join("freezer.state"))?.unwrap_or_default();
        Ok(state.trim() == "FROZEN")
    }
}

/// Freezes (`true`) or thaws (`false`) the cgroup and waits until the
/// kernel reports the new state.
pub(super) fn set(hierarchy: &Hierarchy, path: &str, frozen: bool) -> Result<(), CgroupError> {
    let (dir, v2) = freezer_dir(hierarchy, path)?;
    let (file, value) = match (v2, frozen) {
        (true, true) => ("cgroup.freeze", "1"),
        (true, false) => ("cgroup.freeze", "0"),
        (false, true) => ("freezer.state", "FROZEN"),
        (false, false) => ("freezer.state", "THAWED"),
    };
    let deadline = Instant::now() + SETTLE;
    loop {
        // v1 may stay in FREEZING when a task resists; writing again retries.
        fs::write(&dir.join(file), value)?;
        if read_frozen(&dir, v2)? == frozen {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CgroupError::Parse {
                path: dir.join(file),
                content: format!("did not reach {value} within {SETTLE:?}"),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_freeze_writes_cgroup_freeze_and_reads_events() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("c");
        std::fs::create_dir_all(&dir).unwrap();
        // A fake cgroup: the kernel would update cgroup.events itself.
        std::fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        let h = Hierarchy::V2 {
            root: root.path().to_path_buf(),
        };
        set(&h, "/c", true).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("cgroup.freeze")).unwrap(),
            "1"
        );
        assert!(is_frozen(&h, "/c").unwrap());
        std::fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        assert!(!is_frozen(&h, "/c").unwrap());
    }
}
