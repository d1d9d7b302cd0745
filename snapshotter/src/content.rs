//! The content store: blobs addressed by digest.
//!
//! Layout: `<root>/content/blobs/sha256/<hex>` for committed blobs and
//! `<root>/content/ingest/` for downloads in progress. A blob becomes visible
//! only by an atomic rename after its bytes hashed to the expected digest, so a
//! reader never sees a partial or corrupt blob and a crash leaves at most an
//! ingest file (swept at open).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::Error;
use crate::digest::Digest;

/// Blobs under one root.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    /// Creates the directories under `root/content` if needed.
    pub fn open(root: &Path) -> Result<Self, Error> {
        let blobs = root.join("content/blobs/sha256");
        let ingest = root.join("content/ingest");
        for dir in [&blobs, &ingest] {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        Ok(ContentStore { blobs, ingest })
    }

    /// Where blob `digest` lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// True when the blob is present.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Reads a whole (small) blob, e.g. a config or manifest.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        let path = self.path(digest);
        fs::read(&path).map_err(|e| Error::io(path, e))
    }

    /// Stores `bytes` as blob `digest`, refusing them if they hash differently.
    pub fn write_all(&self, digest: &Digest, bytes: &[u8]) -> Result<(), Error> {
        if self.contains(digest) {
            return Ok(());
        }
        let mut ingest = self.ingest(digest)?;
        ingest.write(bytes)?;
        ingest.commit()
    }

    /// Starts writing blob `digest`; the returned writer removes its temp file
    /// unless [`Ingest::commit`] succeeds.
    pub fn ingest(&self, digest: &Digest) -> Result<Ingest, Error> {
        let tmp = self.ingest.join(format!(
            "{}.{}.{}",
            digest.hex(),
            std::process::id(),
            unique_suffix()
        ));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        Ok(Ingest {
            file: Some(file),
            tmp,
            dest: self.path(digest),
            expected: digest.clone(),
            hasher: Sha256::new(),
        })
    }

    /// Deletes blob `digest`; absent is fine.
    pub fn remove(&self, digest: &Digest) -> Result<(), Error> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
            _ => Ok(()),
        }
    }

    /// Digests of all committed blobs (for garbage collection).
    pub fn list(&self) -> Result<Vec<Digest>, Error> {
        let entries = fs::read_dir(&self.blobs).map_err(|e| Error::io(&self.blobs, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.blobs, e))?;
            if let Some(Ok(d)) = entry
                .file_name()
                .to_str()
                .map(|n| Digest::parse(&format!("sha256:{n}")))
            {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// The directory of work in progress (downloads, import scratch dirs).
    pub fn ingest_dir(&self) -> &Path {
        &self.ingest
    }

    /// Removes leftovers of interrupted downloads and imports. Only safe when
    /// no pull runs, i.e. at open.
    pub fn sweep_ingest(&self) -> Result<(), Error> {
        let entries = fs::read_dir(&self.ingest).map_err(|e| Error::io(&self.ingest, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            if let Err(e) = removed {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove stale ingest file");
            }
        }
        Ok(())
    }
}

/// A blob being written. Dropping it without a successful commit deletes the
/// temp file.
pub struct Ingest {
    file: Option<File>,
    tmp: PathBuf,
    dest: PathBuf,
    expected: Digest,
    hasher: Sha256,
}

impl Ingest {
    /// Appends `bytes`, hashing them on the way.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let Some(file) = self.file.as_mut() else {
            return Err(Error::io(
                &self.tmp,
                std::io::Error::other("ingest already finished"),
            ));
        };
        file.write_all(bytes).map_err(|e| Error::io(&self.tmp, e))?;
        self.hasher.update(bytes);
        Ok(())
    }

    /// Verifies the digest, syncs, and renames the blob into place. On a
    /// mismatch the temp file is deleted and nothing becomes visible.
    pub fn commit(mut self) -> Result<(), Error> {
        let file = self.file.take();
        let actual = Digest::from_hasher(std::mem::take(&mut self.hasher));
        if actual != self.expected {
            // Drop removes the temp file.
            return Err(Error::DigestMismatch {
                object: format!("blob {}", self.expected),
                expected: self.expected.to_string(),
                actual: actual.to_string(),
            });
        }
        if let Some(file) = file {
            file.sync_all().map_err(|e| Error::io(&self.tmp, e))?;
        }
        fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io(&self.dest, e))?;
        // Nothing left to clean up.
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A process-unique counter for temp names.
pub(crate) fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_with_matching_digest_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let d = Digest::of(b"hello");
        store.write_all(&d, b"hello").unwrap();
        assert_eq!(store.read(&d).unwrap(), b"hello");
        assert_eq!(store.list().unwrap(), vec![d]);
    }

    #[test]
    fn digest_mismatch_is_rejected_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let d = Digest::of(b"hello");
        let err = store.write_all(&d, b"tampered").unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(!store.contains(&d));
        assert_eq!(
            fs::read_dir(dir.path().join("content/ingest"))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(store.list().unwrap(), vec![]);
    }

    #[test]
    fn abandoned_ingest_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let d = Digest::of(b"hello");
        let mut ingest = store.ingest(&d).unwrap();
        ingest.write(b"hel").unwrap();
        drop(ingest);
        assert_eq!(
            fs::read_dir(dir.path().join("content/ingest"))
                .unwrap()
                .count(),
            0
        );
        assert!(!store.contains(&d));
    }
}
