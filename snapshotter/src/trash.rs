//! A trash directory: what is deleted is first renamed into it (one atomic
//! rename on the same filesystem, so the caller never waits for a tree to be
//! deleted) and deleted afterwards, off the caller's path, entry by entry.
//!
//! Entries are named by time and a counter, never by what they held: once
//! discarded, nothing on disk names the object any more. A crash before an
//! entry is deleted leaks nothing, as long as whoever owns the trash empties
//! it at start ([`Trash::empty`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;
use crate::snapshots::remove_dir_if_exists;

/// Tells apart the entries discarded within one clock tick.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// One trash directory.
#[derive(Debug, Clone)]
pub struct Trash {
    dir: PathBuf,
}

impl Trash {
    /// The trash at `dir`, created if needed. It must be on the filesystem
    /// of what will be discarded into it (a sibling directory is).
    pub fn open(dir: &Path) -> Result<Self, Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Trash {
            dir: dir.to_path_buf(),
        })
    }

    /// Moves `path` (a directory tree with nothing mounted in it) into the
    /// trash and returns the entry, for [`Trash::delete`]. `None` when
    /// there was nothing at `path`, or when it could not be moved (another
    /// filesystem) and was deleted in place instead.
    pub fn discard(&self, path: &Path) -> Result<Option<PathBuf>, Error> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let entry = self.dir.join(format!("{nanos}-{n}"));
        match fs::rename(path, &entry) {
            Ok(()) => Ok(Some(entry)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot move into the trash ({e}): deleting in place");
                remove_dir_if_exists(path).map(|()| None)
            }
        }
    }

    /// Deletes one entry [`Trash::discard`] returned. Idempotent.
    pub fn delete(entry: &Path) -> Result<(), Error> {
        remove_dir_if_exists(entry)
    }

    /// Deletes everything in the trash (what a crash left there); the first
    /// failure is returned after trying every entry.
    pub fn empty(&self) -> Result<(), Error> {
        let mut result = Ok(());
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let path = entry.path();
            let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_dir_if_exists(&path)
            } else {
                match fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path, e)),
                    _ => Ok(()),
                }
            };
            if let Err(e) = removed
                && result.is_ok()
            {
                result = Err(e);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discarded_tree_leaves_its_place_at_once_and_is_deleted_later() {
        let dir = tempfile::tempdir().unwrap();
        let trash = Trash::open(&dir.path().join("trash")).unwrap();
        let victim = dir.path().join("ctr-1");
        fs::create_dir_all(victim.join("upper/a/b")).unwrap();
        fs::write(victim.join("upper/a/b/f"), "x").unwrap();

        let entry = trash.discard(&victim).unwrap().unwrap();
        assert!(!victim.exists());
        assert!(entry.join("upper/a/b/f").exists());
        assert!(!entry.to_string_lossy().contains("ctr-1"));
        Trash::delete(&entry).unwrap();
        assert!(!entry.exists());
        Trash::delete(&entry).unwrap();
        // Nothing there: nothing to do.
        assert_eq!(trash.discard(&victim).unwrap(), None);
    }

    #[test]
    fn empty_deletes_what_was_left_in_the_trash() {
        let dir = tempfile::tempdir().unwrap();
        let trash = Trash::open(&dir.path().join("trash")).unwrap();
        for name in ["a", "b"] {
            let victim = dir.path().join(name);
            fs::create_dir_all(victim.join("deep/er")).unwrap();
            trash.discard(&victim).unwrap().unwrap();
        }
        fs::write(dir.path().join("trash/stray-file"), "x").unwrap();
        trash.empty().unwrap();
        assert_eq!(fs::read_dir(dir.path().join("trash")).unwrap().count(), 0);
    }
}
