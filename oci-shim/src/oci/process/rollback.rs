//! `create`'s undo list: each side effect (state directory, cgroup, init
//! process, mounts made in the host's namespace) is registered as it
//! happens, so a failure anywhere leaves nothing behind; disarmed on
//! success.

use std::path::PathBuf;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cgroups::Cgroup;
use crate::oci::container_cgroup::remove_default_parent;
use crate::oci::log;
use crate::oci::rootfs::mountinfo::detach_mounts_under;
use crate::oci::syscall::Kernel;

/// Undo list for a create in progress; disarmed on success.
#[derive(Default)]
pub(crate) struct Rollback {
    pub dir: Option<PathBuf>,
    pub cgroup: Option<Cgroup>,
    pub pid: Option<Pid>,
    /// The rootfs whose mounts an init without a mount namespace of its
    /// own made in ours.
    pub host_mounts: Option<PathBuf>,
}

impl Rollback {
    /// Forgets every undo (assigning a fresh value would run Drop).
    pub(crate) fn disarm(&mut self) {
        self.dir = None;
        self.cgroup = None;
        self.pid = None;
        self.host_mounts = None;
    }
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = kill(pid, Signal::SIGKILL);
        }
        if let Some(rootfs) = self.host_mounts.take()
            && let Err(e) = detach_mounts_under(&Kernel, &rootfs)
        {
            log::warn(&format!("rollback: {e}"));
        }
        if let Some(cg) = self.cgroup.take() {
            for pid in cg.processes().unwrap_or_default() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            match cg.remove() {
                Ok(()) => remove_default_parent(cg.path()),
                Err(e) => log::warn(&format!("rollback: {e}")),
            }
        }
        if let Some(dir) = self.dir.take()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            log::warn(&format!("rollback: remove {}: {e}", dir.display()));
        }
    }
}
