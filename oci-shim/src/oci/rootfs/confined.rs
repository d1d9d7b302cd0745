//! Paths inside the rootfs, resolved by the kernel rather than by us.
//!
//! The CVE-2021-30465 class: a mount destination resolved in user space
//! and then handed to mount(2) as a string can be swapped for a symlink to
//! the host between the two steps (by another container sharing a volume).
//! Here every target is opened with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)` relative to a descriptor of the rootfs, so the
//! kernel resolves symlinks as if the rootfs were `/`, and the mount is
//! made onto `/proc/self/fd/<n>` of that descriptor: whatever happens to
//! the path afterwards, the mount lands on the inode that was opened.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat, openat2};
use nix::sys::stat::{Mode, mkdirat};

use crate::oci::error::{OciError, Result};

/// An open rootfs directory; every lookup stays beneath it.
pub(crate) struct RootDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// `/proc/self/fd/<n>`: the path mount(2) follows to exactly `fd`'s inode.
pub(crate) fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

impl RootDir {
    /// Opens the rootfs (a trusted host path). Open it after the rootfs
    /// has been bind-mounted onto itself, so lookups see that mount.
    pub(crate) fn open(path: &Path) -> Result<RootDir> {
        let fd = open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| OciError::sys(format!("open rootfs {}", path.display()), e))?;
        Ok(RootDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// An `O_PATH` descriptor of `rel` (a container path) resolved inside
    /// the rootfs; magic links (`/proc/<pid>/fd/…`) are refused.
    pub(crate) fn open_path(&self, rel: &Path) -> nix::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        openat2(&self.fd, &relative(rel), how)
    }

    fn open_dir(&self, rel: &Path) -> nix::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        openat2(&self.fd, &relative(rel), how)
    }

    /// `mkdir -p` of `rel` inside the rootfs. Symlinks (even dangling
    /// ones) are first followed as if the rootfs were `/`, giving a path
    /// without links; then each component is opened or made relative to
    /// its opened, kernel-confined parent, so a link swapped in meanwhile
    /// still cannot lead out. Returns an `O_PATH` descriptor.
    pub(crate) fn mkdir_all(&self, rel: &Path) -> Result<OwnedFd> {
        let fail = |what: &str, e: Errno| {
            OciError::sys(format!("{what} {} in the rootfs", rel.display()), e)
        };
        let resolved = resolve_in_root(&self.path, rel)?;
        let plain = resolved.strip_prefix(&self.path).unwrap_or(Path::new(""));
        let mut prefix = PathBuf::from(".");
        let mut current = self.open_dir(&prefix).map_err(|e| fail("open", e))?;
        for comp in plain.components() {
            prefix.push(comp);
            current = match self.open_dir(&prefix) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => {
                    match mkdirat(&current, comp.as_os_str(), Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(fail("mkdir", e)),
                    }
                    self.open_dir(&prefix).map_err(|e| fail("open", e))?
                }
                Err(e) => return Err(fail("open", e)),
            };
        }
        Ok(current)
    }

    /// An existing file or directory at `rel`, or a new empty file (its
    /// parents made with [`RootDir::mkdir_all`]); `O_PATH` descriptor.
    pub(crate) fn create_file(&self, rel: &Path) -> Result<OwnedFd> {
        if let Ok(fd) = self.open_path(rel) {
            return Ok(fd);
        }
        let rel = relative(rel);
        let name = rel
            .file_name()
            .ok_or_else(|| OciError::Unsupported(format!("file target {}", rel.display())))?;
        let parent = self.mkdir_all(rel.parent().unwrap_or(Path::new("")))?;
        // O_EXCL|O_NOFOLLOW: never create through a (dangling) symlink.
        match openat(
            &parent,
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        ) {
            Ok(_) | Err(Errno::EEXIST) => {}
            Err(e) => {
                return Err(OciError::sys(
                    format!("create {} in the rootfs", rel.display()),
                    e,
                ));
            }
        }
        self.open_path(&rel)
            .map_err(|e| OciError::sys(format!("open {} in the rootfs", rel.display()), e))
    }
}

/// A container path as a path relative to the rootfs (`/a/b` → `a/b`).
fn relative(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)))
        .collect()
}

/// Resolves `dest` (an absolute container path) inside `rootfs`, following
/// symlinks as if `rootfs` were `/`, so no link can point outside it.
pub(crate) fn resolve_in_root(rootfs: &Path, dest: &Path) -> Result<PathBuf> {
    let mut pending: Vec<PathBuf> = vec![dest.to_path_buf()];
    let mut out = rootfs.to_path_buf();
    let mut links = 0;
    while let Some(p) = pending.pop() {
        let mut comps: Vec<Component> = p.components().collect();
        comps.reverse();
        while let Some(c) = comps.pop() {
            match c {
                Component::RootDir => out = rootfs.to_path_buf(),
                Component::CurDir | Component::Prefix(_) => {}
                Component::ParentDir => {
                    if out != rootfs {
                        out.pop();
                    }
                }
                Component::Normal(name) => {
                    let next = out.join(name);
                    match std::fs::symlink_metadata(&next) {
                        Ok(m) if m.file_type().is_symlink() => {
                            links += 1;
                            if links > 40 {
                                return Err(OciError::Unsupported(format!(
                                    "too many symlinks resolving {}",
                                    dest.display()
                                )));
                            }
                            let target = std::fs::read_link(&next)
                                .map_err(|e| OciError::io("readlink", &next, e))?;
                            let rest: PathBuf = comps.iter().rev().collect();
                            comps.clear();
                            pending.push(rest);
                            pending.push(target);
                        }
                        _ => out = next,
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real(fd: &OwnedFd) -> PathBuf {
        std::fs::read_link(fd_path(fd)).unwrap()
    }

    #[test]
    fn absolute_and_dotdot_symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let host = dir.path().join("host");
        std::fs::create_dir_all(root.join("run")).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        std::os::unix::fs::symlink(&host, root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../run", root.join("up")).unwrap();
        let r = RootDir::open(&root).unwrap();
        let fd = r.mkdir_all(Path::new("/abs/x")).unwrap();
        let inside = root.join(host.strip_prefix("/").unwrap()).join("x");
        assert_eq!(real(&fd), inside);
        assert!(!host.join("x").exists(), "created on the host");
        assert_eq!(
            real(&r.mkdir_all(Path::new("/up/y")).unwrap()),
            root.join("run/y")
        );
        let f = r.create_file(Path::new("/abs/file")).unwrap();
        assert_eq!(
            real(&f),
            root.join(host.strip_prefix("/").unwrap()).join("file")
        );
        assert!(!host.join("file").exists());
    }

    #[test]
    fn magic_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink("/proc/self/fd/0", root.join("magic")).unwrap();
        let r = RootDir::open(&root).unwrap();
        // The absolute link resolves inside the root, where there is no /proc.
        assert!(r.open_path(Path::new("/magic")).is_err());
        let proc_root = RootDir::open(Path::new("/")).unwrap();
        assert_eq!(
            proc_root
                .open_path(Path::new("/proc/self/cwd"))
                .unwrap_err(),
            Errno::ELOOP
        );
    }
}
