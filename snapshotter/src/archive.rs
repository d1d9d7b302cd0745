//! Unpacking an image archive (OCI layout or docker-archive tarball, plain,
//! gzip or zstd) into a private scratch directory for import.
//!
//! Only directories, regular files and symlinks are created (docker-archive
//! writes a symlink for a layer that appears twice); every entry stays inside
//! the scratch dir: no absolute paths, no `..`, never written through a
//! symlink. Paths read later go through [`Scratch::open`], which refuses
//! symlinks that lead out. The scratch dir is deleted on drop, and lives
//! under `content/ingest/`, which the store sweeps at open.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use crate::content::unique_suffix;
use crate::error::Error;

/// A directory holding one extracted archive, removed on drop.
pub struct Scratch {
    root: PathBuf,
    name: String,
}

impl Scratch {
    /// Extracts the tar read from `reader` into a new dir under `parent`.
    /// `name` names the archive in errors.
    pub fn extract(parent: &Path, reader: impl Read, name: &str) -> Result<Scratch, Error> {
        let root = parent.join(format!("import-{}-{}", std::process::id(), unique_suffix()));
        fs::create_dir(&root).map_err(|e| Error::io(&root, e))?;
        let scratch = Scratch {
            root,
            name: name.to_string(),
        };
        scratch.unpack(reader)?;
        Ok(scratch)
    }

    fn bad(&self, reason: String) -> Error {
        Error::BadArchive {
            source_name: self.name.clone(),
            reason,
        }
    }

    fn unpack(&self, reader: impl Read) -> Result<(), Error> {
        let mut buffered = BufReader::new(reader);
        let magic = buffered
            .fill_buf()
            .map_err(|e| self.bad(e.to_string()))?
            .get(..4)
            .map(|m| [m[0], m[1], m[2], m[3]])
            .unwrap_or_default();
        let decompressed: Box<dyn Read> = match magic {
            [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(buffered)),
            [0x28, 0xb5, 0x2f, 0xfd] => Box::new(
                zstd::stream::read::Decoder::with_buffer(buffered)
                    .map_err(|e| self.bad(e.to_string()))?,
            ),
            _ => Box::new(buffered),
        };
        let mut archive = tar::Archive::new(decompressed);
        for entry in archive.entries().map_err(|e| self.bad(e.to_string()))? {
            let mut entry = entry.map_err(|e| self.bad(e.to_string()))?;
            let path = entry
                .path()
                .map_err(|e| self.bad(e.to_string()))?
                .into_owned();
            let Some(rel) = clean(&path) else {
                return Err(self.bad(format!("entry {} leaves the archive", path.display())));
            };
            if rel.as_os_str().is_empty() {
                continue;
            }
            let target = self.root.join(&rel);
            self.check_parents(&rel)?;
            let io_err = |e: io::Error| self.bad(format!("entry {}: {e}", path.display()));
            match entry.header().entry_type() {
                tar::EntryType::Directory => {
                    fs::create_dir_all(&target).map_err(io_err)?;
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    if let Some(parent) = target.parent() {
                        fs::create_dir_all(parent).map_err(io_err)?;
                    }
                    let mut file = File::options()
                        .write(true)
                        .create_new(true)
                        .custom_flags(nix::libc::O_NOFOLLOW)
                        .open(&target)
                        .map_err(io_err)?;
                    io::copy(&mut entry, &mut file).map_err(io_err)?;
                }
                tar::EntryType::Symlink => {
                    let link = entry.link_name().map_err(io_err)?.ok_or_else(|| {
                        self.bad(format!("symlink {} has no target", path.display()))
                    })?;
                    if let Some(parent) = target.parent() {
                        fs::create_dir_all(parent).map_err(io_err)?;
                    }
                    std::os::unix::fs::symlink(link.as_ref(), &target).map_err(io_err)?;
                }
                // Metadata entries and anything else carry nothing an import reads.
                _ => {}
            }
        }
        Ok(())
    }

    /// Refuses an entry whose parent path crosses a symlink (writing through
    /// it could land outside the scratch dir).
    fn check_parents(&self, rel: &Path) -> Result<(), Error> {
        let mut at = self.root.clone();
        let parents: Vec<_> = rel.components().collect();
        for c in parents.iter().take(parents.len().saturating_sub(1)) {
            at.push(c);
            if fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(self.bad(format!("entry {} goes through a symlink", rel.display())));
            }
        }
        Ok(())
    }

    /// The extracted tree's root.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.root) {
            tracing::warn!(path = %self.root.display(), error = %e, "cannot remove import scratch dir");
        }
    }
}

/// Opens `rel` (a path named inside an archive or layout at `root`) for
/// reading, refusing anything that resolves outside `root`.
pub fn open_inside(root: &Path, rel: &str, archive: &str) -> Result<File, Error> {
    let bad = |reason: String| Error::BadArchive {
        source_name: archive.to_string(),
        reason,
    };
    let clean_rel = clean(Path::new(rel)).ok_or_else(|| bad(format!("path {rel:?} leaves it")))?;
    let path = root.join(clean_rel);
    let real_root = root.canonicalize().map_err(|e| Error::io(root, e))?;
    let real = path
        .canonicalize()
        .map_err(|e| bad(format!("{rel}: {e}")))?;
    if !real.starts_with(&real_root) {
        return Err(bad(format!("{rel} resolves outside it")));
    }
    File::open(&real).map_err(|e| Error::io(real, e))
}

/// `rel` without `.` components; `None` if absolute or climbing with `..`.
fn clean(rel: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            // set_path refuses `..`; write the raw name to test the check.
            let name = h.as_old_mut();
            name.name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn files_dirs_and_inside_symlinks_are_extracted_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let t = tar(&[
            ("a/", tar::EntryType::Directory, b"", None),
            ("a/layer.tar", tar::EntryType::Regular, b"data", None),
            (
                "b/layer.tar",
                tar::EntryType::Symlink,
                b"",
                Some("../a/layer.tar"),
            ),
        ]);
        let s = Scratch::extract(dir.path(), &t[..], "t.tar").unwrap();
        let mut text = String::new();
        open_inside(s.root(), "b/layer.tar", "t")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "data");
        let root = s.root().to_path_buf();
        drop(s);
        assert!(!root.exists());
    }

    #[test]
    fn escaping_entries_and_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let climb = tar(&[("../x", tar::EntryType::Regular, b"x", None)]);
        assert!(matches!(
            Scratch::extract(dir.path(), &climb[..], "t"),
            Err(Error::BadArchive { .. })
        ));
        let through = tar(&[
            ("l", tar::EntryType::Symlink, b"", Some("/tmp")),
            ("l/x", tar::EntryType::Regular, b"x", None),
        ]);
        assert!(Scratch::extract(dir.path(), &through[..], "t").is_err());
        let out = tar(&[("l", tar::EntryType::Symlink, b"", Some("/etc/hostname"))]);
        let s = Scratch::extract(dir.path(), &out[..], "t").unwrap();
        assert!(matches!(
            open_inside(s.root(), "l", "t"),
            Err(Error::BadArchive { .. })
        ));
        drop(s);
        // Failed extractions cleaned up after themselves.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
