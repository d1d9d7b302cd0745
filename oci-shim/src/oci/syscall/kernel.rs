//! [`Kernel`]: the seam's real side, each method the one call it names.

use std::collections::HashSet;
use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use caps::errors::CapsError;
use caps::{CapSet, Capability as Cap};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};

use crate::cgroups::{Cgroup, CgroupError};
use crate::oci::error::Result;
use crate::oci::process::signals;
use crate::oci::rootfs::mountapi::{self, Attrs};
use crate::oci::security::hardening;
use crate::oci::security::seccomp::{self, Program};
use crate::oci::syscall::traits::{MountCalls, Syscall};
use crate::spec::LinuxResources;

/// The real kernel.
pub(crate) struct Kernel;

// <linux/keyctl.h>
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEYCTL_SETPERM: libc::c_long = 5;
const KEYCTL_DESCRIBE: libc::c_long = 6;

impl MountCalls for Kernel {
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

impl Syscall for Kernel {
    fn setns(&self, ns: &File, nstype: CloneFlags) -> nix::Result<()> {
        nix::sched::setns(ns, nstype)
    }

    fn unshare(&self, flags: CloneFlags) -> nix::Result<()> {
        nix::sched::unshare(flags)
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        nix::mount::umount2(target, flags)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> nix::Result<()> {
        nix::unistd::pivot_root(new_root, put_old)
    }

    fn chroot(&self, path: &Path) -> nix::Result<()> {
        nix::unistd::chroot(path)
    }

    fn chdir(&self, path: &Path) -> nix::Result<()> {
        nix::unistd::chdir(path)
    }

    fn fchdir(&self, dir: &OwnedFd) -> nix::Result<()> {
        nix::unistd::fchdir(dir)
    }

    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: u64) -> nix::Result<()> {
        nix::sys::stat::mknod(path, kind, perm, dev)
    }

    fn chown(&self, path: &Path, uid: Option<Uid>, gid: Option<Gid>) -> nix::Result<()> {
        nix::unistd::chown(path, uid, gid)
    }

    fn sethostname(&self, name: &str) -> nix::Result<()> {
        nix::unistd::sethostname(name)
    }

    fn setdomainname(&self, name: &str) -> nix::Result<()> {
        // SAFETY: a pointer and length of a live string; the kernel copies
        // them (nix does not wrap setdomainname).
        let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
        nix::errno::Errno::result(rc).map(drop)
    }

    fn setgroups(&self, gids: &[Gid]) -> nix::Result<()> {
        nix::unistd::setgroups(gids)
    }

    fn setresgid(&self, gid: Gid) -> nix::Result<()> {
        nix::unistd::setresgid(gid, gid, gid)
    }

    fn setresuid(&self, uid: Uid) -> nix::Result<()> {
        nix::unistd::setresuid(uid, uid, uid)
    }

    fn set_keepcaps(&self, keep: bool) -> nix::Result<()> {
        nix::sys::prctl::set_keepcaps(keep)
    }

    fn set_no_new_privs(&self) -> nix::Result<()> {
        nix::sys::prctl::set_no_new_privs()
    }

    fn umask(&self, mask: Mode) {
        nix::sys::stat::umask(mask);
    }

    fn cap_has(&self, set: CapSet, cap: Cap) -> std::result::Result<bool, CapsError> {
        caps::has_cap(None, set, cap)
    }

    fn cap_read(&self, set: CapSet) -> std::result::Result<HashSet<Cap>, CapsError> {
        caps::read(None, set)
    }

    fn cap_drop(&self, set: CapSet, cap: Cap) -> std::result::Result<(), CapsError> {
        caps::drop(None, set, cap)
    }

    fn cap_set(&self, set: CapSet, caps: &HashSet<Cap>) -> std::result::Result<(), CapsError> {
        caps::set(None, set, caps)
    }

    fn cap_clear(&self, set: CapSet) -> std::result::Result<(), CapsError> {
        caps::clear(None, set)
    }

    fn cap_raise(&self, set: CapSet, cap: Cap) -> std::result::Result<(), CapsError> {
        caps::raise(None, set, cap)
    }

    fn install_seccomp(&self, filter: &Program) -> Result<()> {
        seccomp::install(filter)
    }

    fn cgroup_create(&self, cgroup: &Cgroup) -> std::result::Result<(), CgroupError> {
        cgroup.create()
    }

    fn cgroup_apply(
        &self,
        cgroup: &Cgroup,
        resources: &LinuxResources,
    ) -> std::result::Result<Vec<String>, CgroupError> {
        cgroup.apply(resources)
    }

    fn cgroup_add_process(
        &self,
        cgroup: &Cgroup,
        pid: i32,
    ) -> std::result::Result<(), CgroupError> {
        cgroup.add_process(pid)
    }

    fn setrlimit(
        &self,
        resource: libc::__rlimit_resource_t,
        soft: u64,
        hard: u64,
    ) -> nix::Result<()> {
        let want = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: `want` is a valid rlimit struct that outlives the call.
        let rc = unsafe { libc::setrlimit(resource, &want) };
        Errno::result(rc).map(drop)
    }

    fn getrlimit(&self, resource: libc::__rlimit_resource_t) -> nix::Result<(u64, u64)> {
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `cur` is a valid, writable rlimit struct.
        let rc = unsafe { libc::getrlimit(resource, &mut cur) };
        Errno::result(rc).map(|_| (cur.rlim_cur, cur.rlim_max))
    }

    fn write_proc(&self, path: &Path, value: &str) -> Result<()> {
        hardening::write_proc_file(path, value)
    }

    fn write_attr(&self, path: &Path, value: &str) -> std::io::Result<()> {
        std::fs::write(path, value.as_bytes())
    }

    fn setsid(&self) -> nix::Result<()> {
        nix::unistd::setsid().map(drop)
    }

    fn dup2(&self, fd: BorrowedFd<'_>, target: i32) -> nix::Result<()> {
        // SAFETY: dup2 takes two descriptor numbers; `fd` is open for the
        // call, and `target` (stdio) is replaced on purpose.
        let rc = unsafe { libc::dup2(fd.as_raw_fd(), target) };
        Errno::result(rc).map(drop)
    }

    fn set_controlling_terminal(&self, tty: i32) -> nix::Result<()> {
        // SAFETY: TIOCSCTTY with argument 0 takes no pointer; the caller
        // is a session leader without a terminal.
        let rc = unsafe { libc::ioctl(tty, libc::TIOCSCTTY, 0) };
        Errno::result(rc).map(drop)
    }

    fn join_session_keyring(&self, name: &CStr) -> nix::Result<libc::c_long> {
        // SAFETY: keyctl(KEYCTL_JOIN_SESSION_KEYRING, name) reads the
        // NUL-terminated string, which outlives the call.
        let rc =
            unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
        Errno::result(rc)
    }

    fn describe_key(&self, serial: i32, buf: &mut [u8]) -> nix::Result<libc::c_long> {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                KEYCTL_DESCRIBE,
                serial,
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        Errno::result(rc)
    }

    fn set_key_permissions(&self, serial: i32, perm: u32) -> nix::Result<()> {
        // SAFETY: keyctl(KEYCTL_SETPERM, serial, perm) takes two integers.
        let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, serial, perm) };
        Errno::result(rc).map(drop)
    }

    fn mark_fds_cloexec_from(&self, first: u32) -> Result<()> {
        hardening::mark_fds_cloexec_from(first)
    }

    fn keep_preserved_fds(&self, end: u32) -> Result<()> {
        hardening::keep_preserved_fds(end)
    }

    fn reset_signals(&self) -> Result<()> {
        signals::reset_signals()
    }
}
