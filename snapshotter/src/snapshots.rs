//! Layer snapshots: one read-only directory per unpacked layer.
//!
//! Layout: `<root>/snapshots/layers/<diff id hex>/fs`. A snapshot is keyed by
//! the layer's diff id (the digest of its uncompressed tar). Because whiteouts
//! are stored in overlay form, a layer's directory does not depend on the
//! layers below it, so any two images that contain the same layer share its
//! directory. Unpacking happens in `layers/.tmp-*` and is renamed into place
//! only when complete and verified: a crash never leaves a half snapshot under
//! its final name, and temp dirs are swept at open.

use std::fs;
use std::path::{Path, PathBuf};

use crate::content::unique_suffix;
use crate::digest::Digest;
use crate::error::Error;
use crate::unpack::{Unpacked, unpack_reader};

const TMP_PREFIX: &str = ".tmp-";
/// Beside `fs`: "<bytes> <inodes> <blob digest>" of the unpacked layer, so a
/// pull that finds the layer another pull unpacked from the same blob can
/// record its usage without a walk.
const USAGE_FILE: &str = "usage";

/// The layer snapshot directories of one store.
#[derive(Debug, Clone)]
pub struct LayerSnapshots {
    layers: PathBuf,
}

impl LayerSnapshots {
    /// Creates `<snapshots>/layers` if needed.
    pub fn open(snapshots: &Path) -> Result<Self, Error> {
        let layers = snapshots.join("layers");
        fs::create_dir_all(&layers).map_err(|e| Error::io(&layers, e))?;
        Ok(LayerSnapshots { layers })
    }

    /// The lower directory for overlay of layer `diff_id`.
    pub fn fs_dir(&self, diff_id: &Digest) -> PathBuf {
        self.layers.join(diff_id.hex()).join("fs")
    }

    /// True when the layer is unpacked.
    pub fn contains(&self, diff_id: &Digest) -> bool {
        self.fs_dir(diff_id).is_dir()
    }

    /// Unpacks blob `blob` (layer `layer_digest`) as snapshot `diff_id`,
    /// verifying the uncompressed stream against `diff_id`. Returns what was
    /// unpacked (sizes). If another pull committed the same snapshot meanwhile,
    /// that one is kept.
    pub fn unpack(
        &self,
        blob: &Path,
        layer_digest: &Digest,
        diff_id: &Digest,
    ) -> Result<Unpacked, Error> {
        let file = fs::File::open(blob).map_err(|e| Error::io(blob, e))?;
        self.unpack_from(file, layer_digest, diff_id)
    }

    /// [`LayerSnapshots::unpack`] from a stream of the blob's bytes (e.g. as
    /// they download).
    pub fn unpack_from(
        &self,
        blob: impl std::io::Read,
        layer_digest: &Digest,
        diff_id: &Digest,
    ) -> Result<Unpacked, Error> {
        let tmp = TempDir::create(&self.layers.join(format!(
            "{TMP_PREFIX}{}-{}-{}",
            diff_id.hex(),
            std::process::id(),
            unique_suffix()
        )))?;
        let fs_dir = tmp.path.join("fs");
        fs::create_dir(&fs_dir).map_err(|e| Error::io(&fs_dir, e))?;
        let unpacked = unpack_reader(blob, layer_digest.as_str(), &fs_dir)?;
        if &unpacked.diff_id != diff_id {
            return Err(Error::DigestMismatch {
                object: format!("uncompressed layer {layer_digest}"),
                expected: diff_id.to_string(),
                actual: unpacked.diff_id.to_string(),
            });
        }
        let usage = tmp.path.join(USAGE_FILE);
        fs::write(
            &usage,
            format!("{} {} {layer_digest}", unpacked.size, unpacked.inodes),
        )
        .map_err(|e| Error::io(&usage, e))?;
        let dest = self.layers.join(diff_id.hex());
        match fs::rename(&tmp.path, &dest) {
            Ok(()) => {
                tmp.keep();
                Ok(unpacked)
            }
            // Someone else finished first; theirs is identical by digest.
            Err(_) if dest.join("fs").is_dir() => Ok(unpacked),
            Err(e) => Err(Error::io(dest, e)),
        }
    }

    /// `(bytes, inodes)` recorded when snapshot `diff_id` was unpacked from
    /// blob `blob` (and verified against `diff_id`), if it was.
    pub fn usage(&self, diff_id: &Digest, blob: &Digest) -> Option<(u64, u64)> {
        let text = fs::read_to_string(self.layers.join(diff_id.hex()).join(USAGE_FILE)).ok()?;
        let mut fields = text.split_whitespace();
        let (size, inodes) = (fields.next()?, fields.next()?);
        if fields.next()? != blob.as_str() {
            return None;
        }
        Some((size.parse().ok()?, inodes.parse().ok()?))
    }

    /// Deletes snapshot `diff_id`; absent is fine.
    pub fn remove(&self, diff_id: &Digest) -> Result<(), Error> {
        let dir = self.layers.join(diff_id.hex());
        remove_dir_if_exists(&dir)
    }

    /// The diff ids of all committed snapshots (for garbage collection).
    pub fn list(&self) -> Result<Vec<Digest>, Error> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.layers).map_err(|e| Error::io(&self.layers, e))? {
            let entry = entry.map_err(|e| Error::io(&self.layers, e))?;
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

    /// Removes interrupted unpacks. Only safe when no pull runs, i.e. at open.
    pub fn sweep_tmp(&self) -> Result<(), Error> {
        for entry in fs::read_dir(&self.layers).map_err(|e| Error::io(&self.layers, e))? {
            let entry = entry.map_err(|e| Error::io(&self.layers, e))?;
            if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX)
                && let Err(e) = remove_dir_if_exists(&entry.path())
            {
                tracing::warn!(error = %e, "cannot remove interrupted unpack");
            }
        }
        Ok(())
    }
}

/// `remove_dir_all` that treats "already gone" as success.
pub(crate) fn remove_dir_if_exists(dir: &Path) -> Result<(), Error> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(dir, e)),
        _ => Ok(()),
    }
}

/// A directory removed on drop unless kept.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    fn create(path: &Path) -> Result<Self, Error> {
        fs::create_dir(path).map_err(|e| Error::io(path, e))?;
        Ok(TempDir {
            path: path.to_path_buf(),
            keep: false,
        })
    }

    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep
            && let Err(e) = fs::remove_dir_all(&self.path)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove temp snapshot");
        }
    }
}
