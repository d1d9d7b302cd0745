//! The system calls of the launcher's set-up steps, as traits: the mount
//! calls alone ([`MountCalls`], all the spec's mounts need), and the whole
//! set ([`Syscall`]) for namespaces, the root switch, /dev, credentials,
//! capabilities, host and domain names, the container's cgroup, rlimits,
//! sysctls, the session and its terminal, the session keyring and the LSM
//! attribute.
//!
//! Every method is one kernel call (or one `caps`/cgroup library call, or
//! one of the launcher's process-wide sweeps: descriptors, signals) with
//! the error type of the call it wraps, so the callers' messages are the
//! same through the seam as without it. The callers are generic over the
//! trait: the launcher instantiates them once, for the real kernel.

use std::collections::HashSet;
use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use caps::errors::CapsError;
use caps::{CapSet, Capability as Cap};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};

use crate::cgroups::{Cgroup, CgroupError};
use crate::oci::error::Result;
use crate::oci::rootfs::mountapi::Attrs;
use crate::oci::security::seccomp::Program;
use crate::spec::LinuxResources;

/// The calls that perform the spec's mounts.
pub(crate) trait MountCalls {
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

/// Every call the container's set-up makes that changes the process or
/// the system (what only reads, and what only touches the rootfs's own
/// files, is done directly).
pub(crate) trait Syscall: MountCalls {
    /// setns(2) into the namespace `ns` is a file of.
    fn setns(&self, ns: &File, nstype: CloneFlags) -> nix::Result<()>;

    /// unshare(2).
    fn unshare(&self, flags: CloneFlags) -> nix::Result<()>;

    /// umount2(2).
    fn umount2(&self, target: &Path, flags: MntFlags) -> nix::Result<()>;

    /// pivot_root(2).
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> nix::Result<()>;

    /// chroot(2).
    fn chroot(&self, path: &Path) -> nix::Result<()>;

    /// chdir(2).
    fn chdir(&self, path: &Path) -> nix::Result<()>;

    /// fchdir(2).
    fn fchdir(&self, dir: &OwnedFd) -> nix::Result<()>;

    /// mknod(2).
    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: u64) -> nix::Result<()>;

    /// chown(2) (`None` leaves that id unchanged).
    fn chown(&self, path: &Path, uid: Option<Uid>, gid: Option<Gid>) -> nix::Result<()>;

    /// sethostname(2).
    fn sethostname(&self, name: &str) -> nix::Result<()>;

    /// setdomainname(2).
    fn setdomainname(&self, name: &str) -> nix::Result<()>;

    /// setgroups(2).
    fn setgroups(&self, gids: &[Gid]) -> nix::Result<()>;

    /// setresgid(2) with all three ids `gid`.
    fn setresgid(&self, gid: Gid) -> nix::Result<()>;

    /// setresuid(2) with all three ids `uid`.
    fn setresuid(&self, uid: Uid) -> nix::Result<()>;

    /// prctl(PR_SET_KEEPCAPS).
    fn set_keepcaps(&self, keep: bool) -> nix::Result<()>;

    /// prctl(PR_SET_NO_NEW_PRIVS).
    fn set_no_new_privs(&self) -> nix::Result<()>;

    /// umask(2).
    fn umask(&self, mask: Mode);

    /// Whether `cap` is in this thread's `set`.
    fn cap_has(&self, set: CapSet, cap: Cap) -> std::result::Result<bool, CapsError>;

    /// This thread's `set`.
    fn cap_read(&self, set: CapSet) -> std::result::Result<HashSet<Cap>, CapsError>;

    /// Drops `cap` from this thread's `set` (the bounding set: one at a time).
    fn cap_drop(&self, set: CapSet, cap: Cap) -> std::result::Result<(), CapsError>;

    /// Replaces this thread's `set` with `caps`.
    fn cap_set(&self, set: CapSet, caps: &HashSet<Cap>) -> std::result::Result<(), CapsError>;

    /// Empties this thread's `set`.
    fn cap_clear(&self, set: CapSet) -> std::result::Result<(), CapsError>;

    /// Raises `cap` in this thread's `set` (the ambient set).
    fn cap_raise(&self, set: CapSet, cap: Cap) -> std::result::Result<(), CapsError>;

    /// seccomp(2): installs the compiled filter.
    fn install_seccomp(&self, filter: &Program) -> Result<()>;

    /// Makes the container's cgroup directories.
    fn cgroup_create(&self, cgroup: &Cgroup) -> std::result::Result<(), CgroupError>;

    /// Writes `resources` to the cgroup; returns the warnings.
    fn cgroup_apply(
        &self,
        cgroup: &Cgroup,
        resources: &LinuxResources,
    ) -> std::result::Result<Vec<String>, CgroupError>;

    /// Moves process `pid` into the cgroup.
    fn cgroup_add_process(&self, cgroup: &Cgroup, pid: i32)
    -> std::result::Result<(), CgroupError>;

    /// setrlimit(2) of `resource` to `soft`/`hard`.
    fn setrlimit(
        &self,
        resource: libc::__rlimit_resource_t,
        soft: u64,
        hard: u64,
    ) -> nix::Result<()>;

    /// getrlimit(2) of `resource`: its soft and hard limits.
    fn getrlimit(&self, resource: libc::__rlimit_resource_t) -> nix::Result<(u64, u64)>;

    /// Writes `value` to a file that must be on a procfs (a sysctl under
    /// `/proc/sys`), without following a final symlink.
    fn write_proc(&self, path: &Path, value: &str) -> Result<()>;

    /// Writes an LSM attribute file (`/proc/self/attr/...`).
    fn write_attr(&self, path: &Path, value: &str) -> std::io::Result<()>;

    /// setsid(2).
    fn setsid(&self) -> nix::Result<()>;

    /// dup2(2) of `fd` onto descriptor `target` (0, 1 or 2: stdio).
    fn dup2(&self, fd: BorrowedFd<'_>, target: i32) -> nix::Result<()>;

    /// ioctl(TIOCSCTTY): makes the terminal open on descriptor `tty`
    /// (stdin) this session's controlling terminal.
    fn set_controlling_terminal(&self, tty: i32) -> nix::Result<()>;

    /// keyctl(KEYCTL_JOIN_SESSION_KEYRING): joins (or makes) the session
    /// keyring `name`; its serial.
    fn join_session_keyring(&self, name: &CStr) -> nix::Result<libc::c_long>;

    /// keyctl(KEYCTL_DESCRIBE) of key `serial` into `buf`; the length written.
    fn describe_key(&self, serial: i32, buf: &mut [u8]) -> nix::Result<libc::c_long>;

    /// keyctl(KEYCTL_SETPERM) of key `serial`.
    fn set_key_permissions(&self, serial: i32, perm: u32) -> nix::Result<()>;

    /// Marks every descriptor from `first` up close-on-exec
    /// (see `hardening::mark_fds_cloexec_from`).
    fn mark_fds_cloexec_from(&self, first: u32) -> Result<()>;

    /// Clears close-on-exec on the preserved descriptors 3..`end`.
    fn keep_preserved_fds(&self, end: u32) -> Result<()>;

    /// Every signal at its default action and none blocked (see
    /// `signals::reset_signals`).
    fn reset_signals(&self) -> Result<()>;
}
