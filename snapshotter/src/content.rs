//! The content store: blobs addressed by digest.
//!
//! Layout: `<root>/content/blobs/sha256/<hex>` for committed blobs and
//! `<root>/content/ingest/` for downloads in progress. A blob becomes visible
//! only by an atomic rename after its bytes hashed to the expected digest, so a
//! reader never sees a partial or corrupt blob and a crash leaves at most an
//! ingest file (swept at open).
//!
//! Registry downloads write to `ingest/<hex>.partial` instead of a unique
//! temp name: when the connection fails mid-blob the bytes received so far
//! stay there (never visible as a blob), and the next pull of that blob
//! asks the registry for the rest (`Range: bytes=N-`), re-reading the
//! partial file to rebuild the hash state. The per-digest download claim
//! makes the name safe: one download per blob at a time. Partial files
//! survive restarts (the sweep at open keeps them for [`PARTIAL_MAX_AGE`]).

use std::fs::{self, File};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::Error;

/// Suffix of the resumable download files in the ingest dir.
const PARTIAL_SUFFIX: &str = ".partial";
/// A partial download older than this is swept at open instead of resumed.
pub const PARTIAL_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Read size when re-hashing a partial download.
const REHASH_CHUNK: usize = 1 << 20;

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
            written: 0,
        })
    }

    fn partial_path(&self, digest: &Digest) -> PathBuf {
        self.ingest
            .join(format!("{}{PARTIAL_SUFFIX}", digest.hex()))
    }

    /// Bytes of blob `digest` an earlier, interrupted download left (0 when
    /// none). A partial that is not shorter than `size` cannot be resumed
    /// (a complete blob would have been committed): it is deleted and 0
    /// returned. `size` 0 means unknown.
    pub fn partial_len(&self, digest: &Digest, size: u64) -> u64 {
        let path = self.partial_path(digest);
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len > 0 && size > 0 && len >= size {
            tracing::warn!(path = %path.display(), len, size, "partial download not shorter than its blob; restarting it");
            let _ = fs::remove_file(&path);
            return 0;
        }
        len
    }

    /// Opens the resumable download of blob `digest`, keeping its first
    /// `offset` bytes (0: start over, truncating any partial). Those bytes
    /// are re-read to rebuild the hash and handed to `replay` in order (so
    /// an unpack fed from the download sees the whole stream). Fails if the
    /// partial file is shorter than `offset`. The returned ingest deletes
    /// the file on drop unless [`Ingest::keep_partial`] is called.
    pub fn resume(
        &self,
        digest: &Digest,
        offset: u64,
        mut replay: impl FnMut(&[u8]),
    ) -> Result<Ingest, Error> {
        let tmp = self.partial_path(digest);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        let mut ingest = Ingest {
            file: None,
            tmp: tmp.clone(),
            dest: self.path(digest),
            expected: digest.clone(),
            hasher: Sha256::new(),
            written: 0,
        };
        let len = file.metadata().map_err(|e| Error::io(&tmp, e))?.len();
        if len < offset {
            return Err(Error::io(
                &tmp,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("partial download has {len} bytes, not {offset}"),
                ),
            ));
        }
        file.set_len(offset).map_err(|e| Error::io(&tmp, e))?;
        let mut buf = vec![0u8; REHASH_CHUNK];
        let mut left = offset;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = file
                .read(&mut buf[..want])
                .map_err(|e| Error::io(&tmp, e))?;
            if n == 0 {
                return Err(Error::io(
                    &tmp,
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("partial download shorter than {offset} bytes"),
                    ),
                ));
            }
            ingest.hasher.update(&buf[..n]);
            replay(&buf[..n]);
            left -= n as u64;
        }
        file.seek(std::io::SeekFrom::End(0))
            .map_err(|e| Error::io(&tmp, e))?;
        ingest.written = offset;
        ingest.file = Some(file);
        Ok(ingest)
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

    /// Removes leftovers of interrupted downloads and imports, except
    /// resumable partial downloads younger than [`PARTIAL_MAX_AGE`]. Only
    /// safe when no pull runs, i.e. at open.
    pub fn sweep_ingest(&self) -> Result<(), Error> {
        let entries = fs::read_dir(&self.ingest).map_err(|e| Error::io(&self.ingest, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let fresh = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age < PARTIAL_MAX_AGE);
            if fresh
                && entry
                    .file_name()
                    .to_string_lossy()
                    .ends_with(PARTIAL_SUFFIX)
            {
                continue;
            }
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
    /// Bytes in the file so far.
    written: u64,
}

impl Ingest {
    /// Bytes written so far (a resumed download's included).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Ends this ingest keeping its file for a later [`ContentStore::resume`]
    /// (after a network failure; the bytes in it are a prefix of the blob).
    pub fn keep_partial(mut self) {
        if let Some(file) = self.file.take()
            && let Err(e) = file.sync_data()
        {
            tracing::warn!(path = %self.tmp.display(), error = %e, "cannot sync partial download; dropping it");
            return;
        }
        self.tmp = PathBuf::new();
    }

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
        self.written += bytes.len() as u64;
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

    fn ingest_count(dir: &Path) -> usize {
        fs::read_dir(dir.join("content/ingest")).unwrap().count()
    }

    #[test]
    fn kept_partial_resumes_with_its_bytes_replayed_and_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let d = Digest::of(b"hello world");
        let mut first = store
            .resume(&d, 0, |_| panic!("nothing to replay"))
            .unwrap();
        first.write(b"hello").unwrap();
        first.keep_partial();
        assert_eq!(ingest_count(dir.path()), 1);
        assert!(!store.contains(&d));
        assert_eq!(store.partial_len(&d, 11), 5);
        // Survives the sweep at open.
        store.sweep_ingest().unwrap();
        assert_eq!(store.partial_len(&d, 11), 5);

        let mut replayed = Vec::new();
        let mut second = store
            .resume(&d, 5, |b| replayed.extend_from_slice(b))
            .unwrap();
        assert_eq!(replayed, b"hello");
        assert_eq!(second.written(), 5);
        second.write(b" world").unwrap();
        second.commit().unwrap();
        assert_eq!(store.read(&d).unwrap(), b"hello world");
        assert_eq!(ingest_count(dir.path()), 0);
    }

    #[test]
    fn corrupt_partial_fails_the_digest_and_is_deleted_and_restart_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let d = Digest::of(b"hello world");
        let mut first = store.resume(&d, 0, |_| {}).unwrap();
        first.write(b"HELLO").unwrap();
        first.keep_partial();
        let mut resumed = store.resume(&d, 5, |_| {}).unwrap();
        resumed.write(b" world").unwrap();
        assert!(matches!(
            resumed.commit(),
            Err(Error::DigestMismatch { .. })
        ));
        assert_eq!(ingest_count(dir.path()), 0);

        // A restart (offset 0) truncates what a partial held.
        let mut junk = store.resume(&d, 0, |_| {}).unwrap();
        junk.write(b"junk-junk").unwrap();
        junk.keep_partial();
        let mut again = store.resume(&d, 0, |_| panic!("replayed")).unwrap();
        again.write(b"hello world").unwrap();
        again.commit().unwrap();
        assert_eq!(store.read(&d).unwrap(), b"hello world");
    }

    #[test]
    fn partial_as_long_as_the_blob_is_discarded_and_a_short_one_refuses_a_bigger_offset() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let d = Digest::of(b"abc");
        let mut p = store.resume(&d, 0, |_| {}).unwrap();
        p.write(b"abc").unwrap();
        p.keep_partial();
        assert_eq!(store.partial_len(&d, 3), 0);
        assert_eq!(ingest_count(dir.path()), 0);
        let mut p = store.resume(&d, 0, |_| {}).unwrap();
        p.write(b"a").unwrap();
        p.keep_partial();
        assert!(store.resume(&d, 2, |_| {}).is_err());
        assert_eq!(ingest_count(dir.path()), 0);
    }
}
