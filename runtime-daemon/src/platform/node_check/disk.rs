//! Free space and inodes of the filesystem that holds the daemon's root
//! (images, snapshots, containers' writable layers).

use std::path::{Path, PathBuf};

use super::report::{Check, Status};

/// Below this share free: a warning (the kubelet's image GC and eviction
/// thresholds sit around here).
const WARN_PERCENT: f64 = 10.0;
/// Below this share free: a failure (pulls and container writes fail soon).
const FAIL_PERCENT: f64 = 2.0;

/// The grade of `free` out of `total` (blocks or inodes); `None` when the
/// filesystem does not count them (`total` 0, e.g. inodes on btrfs).
pub fn grade(free: u64, total: u64) -> Option<(Status, f64)> {
    if total == 0 {
        return None;
    }
    let percent = free as f64 * 100.0 / total as f64;
    let status = if percent < FAIL_PERCENT {
        Status::Fail
    } else if percent < WARN_PERCENT {
        Status::Warn
    } else {
        Status::Ok
    };
    Some((status, percent))
}

/// `path` or its nearest existing ancestor (the root may not exist yet).
fn existing(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

/// Free space and inodes on the filesystem of `root`, each graded by
/// [`grade`]; the worse decides.
pub fn root_space(root: &Path) -> Check {
    const NAME: &str = "disk space";
    let at = existing(root);
    let stat = match nix::sys::statvfs::statvfs(&at) {
        Ok(stat) => stat,
        Err(e) => {
            return Check::new(
                NAME,
                Status::Warn,
                format!("statvfs {}: {e}", at.display()),
                "",
            );
        }
    };
    let (blocks, inodes) = (
        grade(stat.blocks_available(), stat.blocks()),
        grade(stat.files_available(), stat.files()),
    );
    let gib = stat.blocks_available() as f64 * stat.fragment_size() as f64 / (1u64 << 30) as f64;
    let mut detail = format!("{}: {gib:.1} GiB free", at.display());
    if let Some((_, percent)) = blocks {
        detail.push_str(&format!(" ({percent:.1}%)"));
    }
    if let Some((_, percent)) = inodes {
        detail.push_str(&format!(", {percent:.1}% of inodes free"));
    }
    let status = [blocks, inodes]
        .into_iter()
        .flatten()
        .map(|(s, _)| s)
        .max()
        .unwrap_or(Status::Ok);
    let fix = match status {
        Status::Ok => String::new(),
        _ => format!(
            "free space on {}: `cradlectl gc` removes unused images and orphan layers; \
             remove exited containers and old logs, or grow the filesystem",
            at.display()
        ),
    };
    Check::new(NAME, status, detail, fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_shares_grade_at_ten_and_two_percent() {
        assert_eq!(grade(50, 100).map(|g| g.0), Some(Status::Ok));
        assert_eq!(grade(10, 100).map(|g| g.0), Some(Status::Ok));
        assert_eq!(grade(9, 100).map(|g| g.0), Some(Status::Warn));
        assert_eq!(grade(2, 100).map(|g| g.0), Some(Status::Warn));
        assert_eq!(grade(1, 100).map(|g| g.0), Some(Status::Fail));
        assert_eq!(grade(0, 0), None);
    }

    #[test]
    fn a_root_not_created_yet_is_measured_at_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        let check = root_space(&dir.path().join("not/yet"));
        assert!(
            check.detail.starts_with(&dir.path().display().to_string()),
            "{check:?}"
        );
        assert!(check.detail.contains("GiB free"), "{check:?}");
        assert_eq!(check.fix.is_empty(), check.status == Status::Ok);
    }
}
