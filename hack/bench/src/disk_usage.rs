//! Disk space a directory tree takes (`du -sx`): allocated blocks of
//! everything under it, hard links counted once, mounts under it skipped.
//! The pull benchmark reads a runtime's root with it to show that a
//! RemoveImage really emptied the store, so every pull starts cold.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Allocated bytes under `root` (including `root` itself); `None` if
/// `root` cannot be read. Entries that vanish during the walk are skipped.
pub fn du(root: &Path) -> Option<u64> {
    let top = std::fs::symlink_metadata(root).ok()?;
    let dev = top.dev();
    let mut seen = HashSet::new();
    let mut total = top.blocks() * 512;
    let mut stack = vec![root.to_path_buf()];
    // Bounded by the tree: each directory is pushed once (no symlinks followed).
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else {
                continue;
            };
            if m.dev() != dev {
                continue;
            }
            if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            total += m.blocks() * 512;
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_grows_with_data_and_counts_hard_links_once() {
        let d = tempfile::tempdir().unwrap();
        let empty = du(d.path()).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/a"), vec![7u8; 1 << 20]).unwrap();
        let one = du(d.path()).unwrap();
        assert!(one >= empty + (1 << 20), "{empty} -> {one}");
        std::fs::hard_link(d.path().join("sub/a"), d.path().join("b")).unwrap();
        let linked = du(d.path()).unwrap();
        assert!(linked < one + (1 << 20), "{one} -> {linked}");
        assert_eq!(du(&d.path().join("missing")), None);
    }
}
