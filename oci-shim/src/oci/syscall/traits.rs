//! The seam between the mount logic and the kernel, after youki's
//! `Syscall` trait: [`Kernel`] makes the real calls, and the tests' recorder
//! captures them, so the spec → mount(2) mapping is checked without root.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::mount::MsFlags;

use crate::oci::rootfs::mountapi::{self, Attrs};

/// The system calls the mount code makes.
pub(crate) trait Syscall {
    /// mount(2).
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()>;

    /// mount_setattr(2) on the mount `target` names (and those below it
    /// with `recursive`).
    fn mount_setattr(&self, target: &OwnedFd, recursive: bool, attrs: Attrs) -> nix::Result<()>;

    /// move_mount(2) of the detached tree `tree` onto `target`.
    fn move_mount(&self, tree: &OwnedFd, target: &OwnedFd) -> nix::Result<()>;
}

/// The real kernel.
pub(crate) struct Kernel;

impl Syscall for Kernel {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn mount_setattr(&self, target: &OwnedFd, recursive: bool, attrs: Attrs) -> nix::Result<()> {
        mountapi::setattr(target.as_fd(), recursive, attrs, None)
    }

    fn move_mount(&self, tree: &OwnedFd, target: &OwnedFd) -> nix::Result<()> {
        mountapi::move_tree(tree.as_fd(), target.as_fd())
    }
}

/// One recorded mount(2) call.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountCall {
    pub source: Option<String>,
    pub target: String,
    pub fstype: Option<String>,
    pub flags: MsFlags,
    pub data: Option<String>,
}

/// Records calls instead of making them; paths are kept relative to `root`.
#[cfg(test)]
pub(crate) struct Recorder {
    pub root: std::path::PathBuf,
    pub calls: std::cell::RefCell<Vec<MountCall>>,
    /// mount_setattr calls: target, recursive, attributes.
    pub attrs: std::cell::RefCell<Vec<(String, bool, Attrs)>>,
    /// move_mount calls: target.
    pub moves: std::cell::RefCell<Vec<String>>,
}

#[cfg(test)]
impl Recorder {
    pub(crate) fn new(root: &Path) -> Recorder {
        Recorder {
            root: root.to_path_buf(),
            calls: std::cell::RefCell::new(Vec::new()),
            attrs: std::cell::RefCell::new(Vec::new()),
            moves: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// `p` relative to the rootfs; `/proc/self/fd/<n>` is first read
    /// back to the path that descriptor names.
    fn rel(&self, p: &Path) -> String {
        let p = match p.strip_prefix("/proc/self/fd") {
            Ok(_) => std::fs::read_link(p).unwrap_or_else(|_| p.to_path_buf()),
            Err(_) => p.to_path_buf(),
        };
        p.strip_prefix(&self.root)
            .map(|r| format!("/{}", r.display()))
            .unwrap_or_else(|_| p.display().to_string())
    }
}

#[cfg(test)]
impl Syscall for Recorder {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        // Targets are `/proc/self/fd/<n>` of a confined descriptor.
        let rel = |p: &Path| self.rel(p);
        self.calls.borrow_mut().push(MountCall {
            source: source.map(rel),
            target: rel(target),
            fstype: fstype.map(str::to_string),
            flags,
            data: data.map(str::to_string),
        });
        Ok(())
    }

    fn mount_setattr(&self, target: &OwnedFd, recursive: bool, attrs: Attrs) -> nix::Result<()> {
        let t = self.rel(&crate::oci::rootfs::confined::fd_path(target));
        self.attrs.borrow_mut().push((t, recursive, attrs));
        Ok(())
    }

    fn move_mount(&self, _tree: &OwnedFd, target: &OwnedFd) -> nix::Result<()> {
        let t = self.rel(&crate::oci::rootfs::confined::fd_path(target));
        self.moves.borrow_mut().push(t);
        Ok(())
    }
}
