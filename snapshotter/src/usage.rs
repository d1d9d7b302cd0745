//! What containers' writable layers occupy: bytes and inodes of each
//! container's overlay upper dir.
//!
//! Unlike image layers (sized once at unpack), a writable layer changes
//! while the container runs, so it has to be walked. The walk is bounded
//! (at most [`MAX_ENTRIES`] entries, never following symlinks or leaving the
//! upper dir's filesystem) and its result is cached per container for
//! [`TTL`], so the kubelet's stats calls for a hundred containers cost a
//! hundred map lookups, not a hundred tree walks.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::Error;

/// How long a measured usage is reused.
pub const TTL: Duration = Duration::from_secs(2);
/// Entries one walk visits at most; beyond that the usage is a lower bound
/// (and a warning says so).
pub const MAX_ENTRIES: u64 = 1_000_000;

/// Disk usage of one writable layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of allocated blocks (`st_blocks * 512`, hardlinks counted once),
    /// as `du` and containerd's snapshotter report them.
    pub bytes: u64,
    /// Inodes, the upper dir itself included.
    pub inodes: u64,
}

/// Measured usages with the time of measurement.
#[derive(Debug, Default)]
pub struct UsageCache {
    entries: Mutex<HashMap<String, (Instant, Usage)>>,
}

impl UsageCache {
    /// The usage of `dir` for `container_id`: cached if younger than [`TTL`],
    /// else walked now.
    pub fn get(&self, container_id: &str, dir: &Path) -> Result<Usage, Error> {
        if let Some((at, usage)) = self.lock().get(container_id)
            && at.elapsed() < TTL
        {
            return Ok(*usage);
        }
        let usage = walk(dir)?;
        self.lock()
            .insert(container_id.to_string(), (Instant::now(), usage));
        Ok(usage)
    }

    /// Forgets `container_id` (its writable layer is gone).
    pub fn forget(&self, container_id: &str) {
        self.lock().remove(container_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Usage)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Walks `dir` without following symlinks or crossing into other
/// filesystems, counting each inode once.
pub fn walk(dir: &Path) -> Result<Usage, Error> {
    let top = fs::symlink_metadata(dir).map_err(|e| Error::io(dir, e))?;
    let dev = top.dev();
    let mut usage = Usage {
        bytes: top.blocks() * 512,
        inodes: 1,
    };
    let mut seen: HashSet<u64> = HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut visited: u64 = 0;
    while let Some(d) = stack.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            // Deleted by the container while we walk: it no longer counts.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&d, e)),
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            visited += 1;
            if visited > MAX_ENTRIES {
                tracing::warn!(dir = %dir.display(), max = MAX_ENTRIES, "writable layer has too many entries; usage is a lower bound");
                return Ok(usage);
            }
            let Ok(meta) = entry.metadata() else { continue };
            if meta.nlink() > 1 && !meta.is_dir() && !seen.insert(meta.ino()) {
                continue;
            }
            usage.inodes += 1;
            usage.bytes += meta.blocks() * 512;
            if meta.is_dir() && meta.dev() == dev {
                stack.push(entry.path());
            }
        }
    }
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_counts_files_dirs_and_hardlinks_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir(d.join("sub")).unwrap();
        fs::write(d.join("sub/a"), vec![1u8; 64 << 10]).unwrap();
        fs::hard_link(d.join("sub/a"), d.join("b")).unwrap();
        std::os::unix::fs::symlink("/etc", d.join("link")).unwrap();
        let u = walk(d).unwrap();
        // top, sub, a (= b), link.
        assert_eq!(u.inodes, 4);
        assert!(u.bytes >= 64 << 10, "{u:?}");
        assert!(u.bytes < 1 << 20, "followed the symlink? {u:?}");
    }

    #[test]
    fn cache_answers_within_the_ttl_and_forget_drops_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = UsageCache::default();
        let first = cache.get("c1", dir.path()).unwrap();
        fs::write(dir.path().join("new"), vec![0u8; 8192]).unwrap();
        assert_eq!(cache.get("c1", dir.path()).unwrap(), first);
        cache.forget("c1");
        assert_eq!(
            cache.get("c1", dir.path()).unwrap().inodes,
            first.inodes + 1
        );
    }

    #[test]
    fn missing_dir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(walk(&dir.path().join("gone")).is_err());
    }
}
