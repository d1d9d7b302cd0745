//! The seam between the mount logic and the kernel, after youki's
//! `Syscall` trait: [`Kernel`] makes the real calls, and the tests' recorder
//! captures them, so the spec → mount(2) mapping is checked without root.

use std::path::Path;

use nix::mount::MsFlags;

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
}

#[cfg(test)]
impl Recorder {
    pub(crate) fn new(root: &Path) -> Recorder {
        Recorder {
            root: root.to_path_buf(),
            calls: std::cell::RefCell::new(Vec::new()),
        }
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
        let rel = |p: &Path| {
            // Targets are `/proc/self/fd/<n>` of a confined descriptor:
            // record the path that descriptor names.
            let p = match p.strip_prefix("/proc/self/fd") {
                Ok(_) => std::fs::read_link(p).unwrap_or_else(|_| p.to_path_buf()),
                Err(_) => p.to_path_buf(),
            };
            p.strip_prefix(&self.root)
                .map(|r| format!("/{}", r.display()))
                .unwrap_or_else(|_| p.display().to_string())
        };
        self.calls.borrow_mut().push(MountCall {
            source: source.map(rel),
            target: rel(target),
            fstype: fstype.map(str::to_string),
            flags,
            data: data.map(str::to_string),
        });
        Ok(())
    }
}
