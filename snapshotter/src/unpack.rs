//! Layer unpacking: one tar (plain, gzip or zstd, told apart by magic bytes)
//! into one directory.
//!
//! The output is an overlayfs lower directory, so OCI whiteouts are converted
//! on the way: `.wh.NAME` becomes a 0:0 character device `NAME`, and
//! `.wh..wh..opq` becomes `trusted.overlay.opaque=y` on its directory. That
//! makes every layer self-contained (no layer is applied on top of another),
//! so layers shared between images are shared as directories.
//!
//! Every entry is confined to the layer root: absolute paths and `..` are
//! refused, parents are resolved component by component without ever leaving
//! the root (a symlink that points outside, absolutely or by climbing, is
//! refused rather than followed), and hardlinks must point at earlier entries
//! of the same layer. The uncompressed stream is hashed as it is read, so the
//! caller can check it against the image config's diff id.

use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, UtimensatFlags, makedev, mknod, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchownat};
use sha2::{Digest as _, Sha256};
use tar::EntryType;

use crate::digest::Digest;
use crate::error::Error;

/// What unpacking a layer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar stream (the layer's diff id).
    pub diff_id: Digest,
    /// Bytes of regular file content written.
    pub size: u64,
    /// Inodes created (files, dirs, links, devices, whiteouts; not hardlinks).
    pub inodes: u64,
}

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const MAX_SYMLINK_HOPS: usize = 40;
/// Bytes of file content moved per read/write while unpacking.
const COPY_BUF: usize = 256 * 1024;

/// Unpacks the layer blob at `blob` into the existing, empty directory `dest`.
/// `layer` names the layer in errors (its digest).
#[cfg(test)]
pub fn unpack_layer(blob: &Path, layer: &str, dest: &Path) -> Result<Unpacked, Error> {
    let file = File::open(blob).map_err(|e| Error::io(blob, e))?;
    unpack_reader(file, layer, dest)
}

/// Unpacks the layer blob read from `reader` (plain, gzip or zstd) into the
/// existing, empty directory `dest`.
pub fn unpack_reader(reader: impl Read, layer: &str, dest: &Path) -> Result<Unpacked, Error> {
    let read_err = |e: io::Error| Error::Unpack {
        layer: layer.to_string(),
        entry: String::new(),
        source: e,
    };
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let magic = peek_magic(&mut buffered).map_err(read_err)?;
    let decompressed: Box<dyn Read> = match magic {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(buffered)),
        [0x28, 0xb5, 0x2f, 0xfd] => {
            Box::new(zstd::stream::read::Decoder::with_buffer(buffered).map_err(read_err)?)
        }
        _ => Box::new(buffered),
    };
    let mut hashing = HashingReader {
        inner: decompressed,
        hasher: Sha256::new(),
    };
    let mut unpacker = Unpacker {
        layer,
        root: dest,
        dirs: Vec::new(),
        size: 0,
        inodes: 0,
        copy_buf: vec![0; COPY_BUF],
    };
    unpacker.run(&mut hashing)?;
    // The tar trailer and padding belong to the diff id too.
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| unpacker.err("", e))?;
    Ok(Unpacked {
        diff_id: Digest::from_hasher(hashing.hasher),
        size: unpacker.size,
        inodes: unpacker.inodes,
    })
}

/// `io::copy` with a large reused buffer: an 8 KiB copy costs a
/// decompressor call, a hash update and a write syscall per 8 KiB; this
/// moves up to [`COPY_BUF`] at a time (pull+unpack is bound by these calls).
fn copy_large(reader: &mut dyn Read, writer: &mut File, buf: &mut [u8]) -> io::Result<u64> {
    use std::io::Write;
    let mut total = 0u64;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        writer.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Reads the first bytes without consuming them.
fn peek_magic<R: Read>(reader: &mut BufReader<R>) -> io::Result<[u8; 4]> {
    use std::io::BufRead;
    let buf = reader.fill_buf()?;
    let mut magic = [0u8; 4];
    let n = buf.len().min(4);
    magic[..n].copy_from_slice(&buf[..n]);
    Ok(magic)
}

/// Hashes everything read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Metadata of a directory, applied after all entries (creating children
/// changes a directory's mtime).
struct DirMeta {
    path: PathBuf,
    mode: u32,
    mtime: u64,
}

/// An entry's numeric header fields (blank fields read as 0).
struct EntryMeta {
    /// Permission bits, setuid/setgid/sticky included.
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
}

impl EntryMeta {
    fn of(header: &tar::Header) -> io::Result<Self> {
        let old = header.as_old();
        Ok(Self {
            mode: numeric(header.mode(), &old.mode)? & 0o7777,
            uid: numeric(header.uid(), &old.uid)?,
            gid: numeric(header.gid(), &old.gid)?,
            mtime: numeric(header.mtime(), &old.mtime)?,
        })
    }
}

struct Unpacker<'a> {
    layer: &'a str,
    root: &'a Path,
    dirs: Vec<DirMeta>,
    size: u64,
    inodes: u64,
    /// File contents go through this one buffer (see [`copy_large`]).
    copy_buf: Vec<u8>,
}

impl Unpacker<'_> {
    fn err(&self, entry: &str, source: io::Error) -> Error {
        Error::Unpack {
            layer: self.layer.to_string(),
            entry: entry.to_string(),
            source,
        }
    }

    fn unsafe_entry(&self, entry: &str, reason: impl Into<String>) -> Error {
        Error::UnsafeLayerEntry {
            layer: self.layer.to_string(),
            entry: entry.to_string(),
            reason: reason.into(),
        }
    }

    fn run(&mut self, reader: &mut dyn Read) -> Result<(), Error> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|e| self.err("", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.err("", e))?;
            let raw = entry.path().map_err(|e| self.err("", e))?.into_owned();
            let name = raw.to_string_lossy().into_owned();
            self.entry(&mut entry, &raw, &name)?;
        }
        // Deepest first, so setting a parent's mtime is the last touch on it.
        for dir in self.dirs.iter().rev() {
            // A later entry may have replaced the directory or one of its
            // parents with a symlink; chmod would follow it out of the layer.
            if !plain_dir_path(self.root, &dir.path) {
                continue;
            }
            fs::set_permissions(&dir.path, fs::Permissions::from_mode(dir.mode))
                .map_err(|e| Error::io(&dir.path, e))?;
            set_mtime(&dir.path, dir.mtime).map_err(|e| Error::io(&dir.path, e))?;
        }
        Ok(())
    }

    /// Unpacks one tar entry: whiteouts and markers become their overlayfs
    /// form, everything else is created at its confined path with its owner,
    /// mode, xattrs and mtime.
    fn entry(
        &mut self,
        entry: &mut tar::Entry<'_, &mut dyn Read>,
        raw: &Path,
        name: &str,
    ) -> Result<(), Error> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let comps = self.clean(raw, name)?;
        let Some((base, parents)) = comps.split_last() else {
            // The layer root itself (`./`): nothing to create.
            return Ok(());
        };
        let parent = self.resolve(parents, name, true)?;
        if self.whiteout(&parent, base, name)? {
            return Ok(());
        }
        let target = parent.join(base);
        let meta = EntryMeta::of(entry.header()).map_err(|e| self.err(name, e))?;
        match kind {
            EntryType::Directory => return self.directory(entry, target, &meta, name),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.regular_file(entry, &target, name)?;
            }
            EntryType::Symlink => return self.symlink(entry, &target, &meta, name),
            EntryType::Link => return self.hardlink(entry, &target, name),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.device(entry.header(), &target, meta.mode, name)?;
            }
            other => {
                tracing::debug!(layer = self.layer, entry = name, kind = ?other, "skipping tar entry type");
                return Ok(());
            }
        }
        self.inodes += 1;
        let io_err = |e: io::Error| self.err(name, e);
        chown(&target, meta.uid, meta.gid).map_err(io_err)?;
        // After chown, which clears setuid/setgid bits.
        fs::set_permissions(&target, fs::Permissions::from_mode(meta.mode)).map_err(io_err)?;
        self.xattrs(entry, &target, name)?;
        set_mtime(&target, meta.mtime).map_err(io_err)
    }

    /// Handles `base` in `parent` when it is an overlay marker rather than
    /// content: the opaque marker, other AUFS metadata, or a whiteout (which
    /// becomes a 0:0 character device). True when it was one.
    fn whiteout(&mut self, parent: &Path, base: &OsStr, name: &str) -> Result<bool, Error> {
        let base_str = base.to_string_lossy();
        if base_str == OPAQUE_MARKER {
            set_xattr(parent, "trusted.overlay.opaque", b"y").map_err(|e| self.err(name, e))?;
            return Ok(true);
        }
        if base_str.starts_with(".wh..wh.") {
            return Ok(true); // other AUFS metadata (e.g. hardlink dirs): not content
        }
        let Some(hidden) = base_str.strip_prefix(WHITEOUT_PREFIX) else {
            return Ok(false);
        };
        if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
            return Err(self.unsafe_entry(name, "malformed whiteout"));
        }
        let target = parent.join(hidden);
        remove_existing(&target).map_err(|e| self.err(name, e))?;
        mknod(&target, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
            .map_err(|e| self.err(name, e.into()))?;
        self.inodes += 1;
        Ok(true)
    }

    /// A directory: kept when one is there already (a later entry may
    /// repeat it), owned now, its mode and mtime applied at the end (see
    /// [`DirMeta`]).
    fn directory(
        &mut self,
        entry: &mut tar::Entry<'_, &mut dyn Read>,
        target: PathBuf,
        meta: &EntryMeta,
        name: &str,
    ) -> Result<(), Error> {
        let io_err = |e: io::Error| self.err(name, e);
        let keep = fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir());
        if !keep {
            remove_existing(&target).map_err(io_err)?;
            fs::create_dir(&target).map_err(io_err)?;
            self.inodes += 1;
        }
        chown(&target, meta.uid, meta.gid).map_err(|e| self.err(name, e))?;
        self.dirs.push(DirMeta {
            path: target.clone(),
            mode: meta.mode,
            mtime: meta.mtime,
        });
        self.xattrs(entry, &target, name)
    }

    /// A regular file's content, written to a new file (never through a
    /// symlink).
    fn regular_file(
        &mut self,
        entry: &mut tar::Entry<'_, &mut dyn Read>,
        target: &Path,
        name: &str,
    ) -> Result<(), Error> {
        remove_existing(target).map_err(|e| self.err(name, e))?;
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(target)
            .map_err(|e| self.err(name, e))?;
        self.size +=
            copy_large(entry, &mut file, &mut self.copy_buf).map_err(|e| self.err(name, e))?;
        Ok(())
    }

    /// A symlink, owned and dated itself (its target may be anything; it is
    /// never followed while unpacking).
    fn symlink(
        &mut self,
        entry: &mut tar::Entry<'_, &mut dyn Read>,
        target: &Path,
        meta: &EntryMeta,
        name: &str,
    ) -> Result<(), Error> {
        let link = entry
            .link_name()
            .map_err(|e| self.err(name, e))?
            .ok_or_else(|| self.unsafe_entry(name, "symlink without target"))?;
        let io_err = |e: io::Error| self.err(name, e);
        remove_existing(target).map_err(io_err)?;
        std::os::unix::fs::symlink(link.as_ref(), target).map_err(io_err)?;
        self.inodes += 1;
        chown(target, meta.uid, meta.gid).map_err(|e| self.err(name, e))?;
        set_mtime(target, meta.mtime).map_err(|e| self.err(name, e))?;
        Ok(())
    }

    /// A hardlink to an earlier entry of this layer.
    fn hardlink(
        &self,
        entry: &mut tar::Entry<'_, &mut dyn Read>,
        target: &Path,
        name: &str,
    ) -> Result<(), Error> {
        let link = entry
            .link_name()
            .map_err(|e| self.err(name, e))?
            .ok_or_else(|| self.unsafe_entry(name, "hardlink without target"))?
            .into_owned();
        let source = self.hardlink_source(&link, name)?;
        remove_existing(target).map_err(|e| self.err(name, e))?;
        // linkat without AT_SYMLINK_FOLLOW: links a symlink itself, never its target.
        fs::hard_link(&source, target).map_err(|e| self.err(name, e))?;
        Ok(())
    }

    /// A character or block device or a FIFO, with its mode (and numbers).
    fn device(
        &self,
        header: &tar::Header,
        target: &Path,
        mode: u32,
        name: &str,
    ) -> Result<(), Error> {
        let io_err = |e: io::Error| self.err(name, e);
        let major = header.device_major().map_err(io_err)?.unwrap_or(0);
        let minor = header.device_minor().map_err(io_err)?.unwrap_or(0);
        let flag = match header.entry_type() {
            EntryType::Char => SFlag::S_IFCHR,
            EntryType::Block => SFlag::S_IFBLK,
            _ => SFlag::S_IFIFO,
        };
        remove_existing(target).map_err(io_err)?;
        mknod(
            target,
            flag,
            Mode::from_bits_truncate(mode),
            makedev(major.into(), minor.into()),
        )
        .map_err(|e| io_err(e.into()))
    }

    /// Applies `SCHILY.xattr.*` PAX records (file capabilities, SELinux labels...).
    fn xattrs(
        &self,
        entry: &mut tar::Entry<'_, &mut dyn Read>,
        target: &Path,
        name: &str,
    ) -> Result<(), Error> {
        let Some(exts) = entry.pax_extensions().map_err(|e| self.err(name, e))? else {
            return Ok(());
        };
        for ext in exts {
            let ext = ext.map_err(|e| self.err(name, e))?;
            let Ok(Some(attr)) = ext.key().map(|k| k.strip_prefix("SCHILY.xattr.")) else {
                continue;
            };
            // overlay's own attributes (redirects, metacopy, opacity) come only
            // from whiteout conversion, never from layer content.
            if attr.starts_with("trusted.overlay.") {
                tracing::warn!(
                    layer = self.layer,
                    entry = name,
                    attr,
                    "ignoring overlay xattr in layer"
                );
                continue;
            }
            set_xattr(target, attr, ext.value_bytes()).map_err(|e| self.err(name, e))?;
        }
        Ok(())
    }

    /// Splits an entry path into normal components, refusing absolute paths and `..`.
    fn clean(&self, raw: &Path, name: &str) -> Result<Vec<OsString>, Error> {
        let mut out = Vec::new();
        for comp in raw.components() {
            match comp {
                Component::Normal(c) => out.push(c.to_os_string()),
                Component::CurDir => {}
                Component::ParentDir => return Err(self.unsafe_entry(name, "path contains \"..\"")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(self.unsafe_entry(name, "absolute path"));
                }
            }
        }
        Ok(out)
    }

    /// Resolves `comps` (a directory path inside the layer) to a real
    /// directory under the root, following only symlinks that stay inside it.
    /// Missing directories are created when `create` is set.
    fn resolve(&self, comps: &[OsString], name: &str, create: bool) -> Result<PathBuf, Error> {
        let mut todo: VecDeque<OsString> = comps.iter().cloned().collect();
        let mut stack: Vec<OsString> = Vec::new();
        let mut hops = 0;
        while let Some(comp) = todo.pop_front() {
            if comp == OsStr::new("..") {
                if stack.pop().is_none() {
                    return Err(
                        self.unsafe_entry(name, "goes through a symlink that leaves the layer")
                    );
                }
                continue;
            }
            if comp == OsStr::new(".") || comp.is_empty() {
                continue;
            }
            let here = join_all(self.root, &stack).join(&comp);
            match fs::symlink_metadata(&here) {
                Ok(m) if m.file_type().is_symlink() => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(self.unsafe_entry(name, "too many levels of symlinks"));
                    }
                    let target = fs::read_link(&here).map_err(|e| self.err(name, e))?;
                    if target.is_absolute() {
                        return Err(self.unsafe_entry(
                            name,
                            format!(
                                "goes through absolute symlink {} -> {}",
                                here.display(),
                                target.display()
                            ),
                        ));
                    }
                    for c in target.components().rev() {
                        todo.push_front(c.as_os_str().to_os_string());
                    }
                }
                Ok(m) if m.is_dir() => stack.push(comp),
                Ok(_) => {
                    return Err(self.unsafe_entry(
                        name,
                        format!("parent {} is not a directory", here.display()),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs::create_dir(&here).map_err(|e| self.err(name, e))?;
                    stack.push(comp);
                }
                Err(e) => return Err(self.err(name, e)),
            }
        }
        Ok(join_all(self.root, &stack))
    }

    /// The in-layer path a hardlink entry points at; it must already exist.
    fn hardlink_source(&self, link: &Path, name: &str) -> Result<PathBuf, Error> {
        let comps = self.clean(link, name)?;
        let Some((base, parents)) = comps.split_last() else {
            return Err(self.unsafe_entry(name, "hardlink to the layer root"));
        };
        let not_here = || {
            self.unsafe_entry(
                name,
                format!("hardlink target {} is not in this layer", link.display()),
            )
        };
        // A missing directory on the way (a dangling symlink among them)
        // breaks the same rule as a missing target file.
        let parent = match self.resolve(parents, name, false) {
            Err(Error::Unpack { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Err(not_here());
            }
            other => other?,
        };
        let source = parent.join(base);
        match fs::symlink_metadata(&source) {
            Ok(m) if !m.is_dir() => Ok(source),
            Ok(_) => Err(self.unsafe_entry(name, "hardlink to a directory")),
            Err(_) => Err(not_here()),
        }
    }
}

/// A numeric header field; an all-blank field reads as 0, as Go's
/// archive/tar (which built most images) reads it.
fn numeric<T: Default>(parsed: io::Result<T>, raw: &[u8]) -> io::Result<T> {
    match parsed {
        Err(_) if raw.iter().all(|b| matches!(b, 0 | b' ')) => Ok(T::default()),
        other => other,
    }
}

/// True when `path` (under `root`) is a directory reached without any symlink.
fn plain_dir_path(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    let mut here = root.to_path_buf();
    rel.components().all(|c| {
        here.push(c);
        fs::symlink_metadata(&here).is_ok_and(|m| m.is_dir())
    })
}

fn join_all(root: &Path, comps: &[OsString]) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(comps);
    p
}

/// Removes whatever is at `path` so an entry can replace it (tar semantics:
/// the later entry wins, and a whiteout hides what this same layer created).
fn remove_existing(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn chown(path: &Path, uid: u64, gid: u64) -> io::Result<()> {
    let uid =
        u32::try_from(uid).map_err(|_| io::Error::other(format!("uid {uid} out of range")))?;
    let gid =
        u32::try_from(gid).map_err(|_| io::Error::other(format!("gid {gid} out of range")))?;
    fchownat(
        nix::fcntl::AT_FDCWD,
        path,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(io::Error::from)
}

fn set_mtime(path: &Path, mtime: u64) -> io::Result<()> {
    let secs = i64::try_from(mtime).unwrap_or(i64::MAX);
    let t = TimeSpec::new(secs, 0);
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &t,
        &t,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io::Error::from)
}

/// Sets an extended attribute on `path` itself (not a symlink's target).
pub(crate) fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let cname = CString::new(name).map_err(io::Error::other)?;
    // SAFETY: both strings are valid NUL-terminated C strings that outlive the
    // call, and `value` is a valid buffer of `value.len()` bytes.
    let rc = unsafe {
        nix::libc::lsetxattr(
            cpath.as_ptr(),
            cname.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
