//! [`Recorder`]: the seam's test side. It makes no call; it records each
//! one, in order, with paths shown relative to the rootfs, answers the
//! capability, rlimit and keyring reads from state it keeps, and fails the
//! calls a test tells it to, so the set-up logic's call sequence for a
//! spec, and its answer to a refusal, can be asserted without root.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use caps::errors::CapsError;
use caps::{CapSet, Capability as Cap};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};

use crate::cgroups::{Cgroup, CgroupError};
use crate::oci::error::{OciError, Result};
use crate::oci::rootfs::confined::fd_path;
use crate::oci::rootfs::mountapi::Attrs;
use crate::oci::security::seccomp::Program;
use crate::oci::syscall::traits::{MountCalls, Syscall};
use crate::spec::LinuxResources;

/// One recorded mount(2) call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountCall {
    pub source: Option<String>,
    pub target: String,
    pub fstype: Option<String>,
    pub flags: MsFlags,
    pub data: Option<String>,
}

/// One recorded call of any kind, in [`Recorder::log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    Mount(MountCall),
    MountSetattr(String, bool, Attrs),
    MoveMount(String),
    /// The namespace kind and the file joined (what its descriptor names).
    Setns(CloneFlags, String),
    Unshare(CloneFlags),
    Umount(String, MntFlags),
    PivotRoot(String, String),
    Chroot(String),
    Chdir(String),
    Fchdir(String),
    Mknod(String, SFlag, u32, u64),
    Chown(String, Option<u32>, Option<u32>),
    Sethostname(String),
    Setdomainname(String),
    Setgroups(Vec<u32>),
    Setresgid(u32),
    Setresuid(u32),
    KeepCaps(bool),
    NoNewPrivs,
    Umask(u32),
    /// A capability set (its name) dropped from, set to (sorted), cleared
    /// or raised in.
    CapDrop(String, Cap),
    CapSet(String, Vec<String>),
    CapClear(String),
    CapRaise(String, Cap),
    Seccomp,
    CgroupCreate(String),
    /// The cgroup and the device rules written with the resources.
    CgroupApply(String, usize),
    CgroupAddProcess(String, i32),
    /// The resource (`libc::RLIMIT_*`), soft and hard limits.
    Setrlimit(libc::__rlimit_resource_t, u64, u64),
    /// A checked /proc write: path and value.
    WriteProc(String, String),
    /// An LSM attribute write: path and value.
    WriteAttr(String, String),
    Setsid,
    /// The descriptor number duplicated onto.
    Dup2(i32),
    /// The descriptor made the controlling terminal.
    SetControllingTerminal(i32),
    JoinSessionKeyring(String),
    SetKeyPermissions(i32, u32),
    MarkFdsCloexecFrom(u32),
    KeepPreservedFds(u32),
    ResetSignals,
}

/// Records calls instead of making them; paths are kept relative to `root`.
pub(crate) struct Recorder {
    pub root: PathBuf,
    pub calls: RefCell<Vec<MountCall>>,
    /// mount_setattr calls: target, recursive, attributes.
    pub attrs: RefCell<Vec<(String, bool, Attrs)>>,
    /// move_mount calls: target.
    pub moves: RefCell<Vec<String>>,
    /// Every call, in order.
    pub log: RefCell<Vec<Call>>,
    /// The bounding set the capability calls read and change.
    pub bounding: RefCell<HashSet<Cap>>,
    /// The permitted set the capability calls read and change.
    pub permitted: RefCell<HashSet<Cap>>,
    /// Calls told to fail (by method name), with the error they return.
    pub failing: RefCell<HashMap<&'static str, nix::Error>>,
    /// The hard limit this process may not raise an rlimit above (as
    /// without CAP_SYS_RESOURCE: EPERM); `None`: no ceiling.
    pub rlimit_ceiling: Cell<Option<u64>>,
    /// What KEYCTL_DESCRIBE answers for the session keyring.
    pub key_description: RefCell<String>,
}

/// The serial the recorder gives the session keyring it is asked to join.
pub(crate) const KEYRING_SERIAL: i32 = 0x2a;

impl Recorder {
    /// A recorder for a rootfs at `root`, holding every capability.
    pub(crate) fn new(root: &Path) -> Recorder {
        Recorder {
            root: root.to_path_buf(),
            calls: RefCell::new(Vec::new()),
            attrs: RefCell::new(Vec::new()),
            moves: RefCell::new(Vec::new()),
            log: RefCell::new(Vec::new()),
            bounding: RefCell::new(caps::all()),
            permitted: RefCell::new(caps::all()),
            failing: RefCell::new(HashMap::new()),
            rlimit_ceiling: Cell::new(None),
            key_description: RefCell::new("keyring;0;0;3f010000;_ses".into()),
        }
    }

    /// Makes every later `call` (a method name) fail with `err`.
    pub(crate) fn fail(&self, call: &'static str, err: nix::Error) {
        self.failing.borrow_mut().insert(call, err);
    }

    /// The error `call` was told to fail with, if any.
    fn refused(&self, call: &str) -> nix::Result<()> {
        match self.failing.borrow().get(call) {
            Some(e) => Err(*e),
            None => Ok(()),
        }
    }

    /// The calls recorded so far.
    pub(crate) fn log(&self) -> Vec<Call> {
        self.log.borrow().clone()
    }

    /// `p` relative to the rootfs; `/proc/self/fd/<n>` is first read
    /// back to the path that descriptor names.
    pub(crate) fn rel(&self, p: &Path) -> String {
        let p = match p.strip_prefix("/proc/self/fd") {
            Ok(_) => std::fs::read_link(p).unwrap_or_else(|_| p.to_path_buf()),
            Err(_) => p.to_path_buf(),
        };
        p.strip_prefix(&self.root)
            .map(|r| format!("/{}", r.display()))
            .unwrap_or_else(|_| p.display().to_string())
    }

    /// Like [`Self::rel`], but the rootfs itself shows as `<rootfs>` and
    /// paths under it as `<rootfs>/…`: for calls whose paths may be the
    /// host's own (`/`) as well as the rootfs's.
    fn host(&self, p: &Path) -> String {
        match p.strip_prefix(&self.root) {
            Ok(r) if r.as_os_str().is_empty() => "<rootfs>".into(),
            Ok(r) => format!("<rootfs>/{}", r.display()),
            Err(_) => p.display().to_string(),
        }
    }

    fn push(&self, call: Call) {
        self.log.borrow_mut().push(call);
    }

    fn set_name(set: CapSet) -> String {
        format!("{set:?}")
    }
}

impl MountCalls for Recorder {
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
        let call = MountCall {
            source: source.map(rel),
            target: rel(target),
            fstype: fstype.map(str::to_string),
            flags,
            data: data.map(str::to_string),
        };
        self.calls.borrow_mut().push(call.clone());
        self.push(Call::Mount(call));
        Ok(())
    }

    fn mount_setattr(&self, target: &OwnedFd, recursive: bool, attrs: Attrs) -> nix::Result<()> {
        let t = self.rel(&fd_path(target));
        self.attrs.borrow_mut().push((t.clone(), recursive, attrs));
        self.push(Call::MountSetattr(t, recursive, attrs));
        Ok(())
    }

    fn move_mount(&self, _tree: &OwnedFd, target: &OwnedFd) -> nix::Result<()> {
        let t = self.rel(&fd_path(target));
        self.moves.borrow_mut().push(t.clone());
        self.push(Call::MoveMount(t));
        Ok(())
    }
}

impl Syscall for Recorder {
    fn setns(&self, ns: &File, nstype: CloneFlags) -> nix::Result<()> {
        self.refused("setns")?;
        let link = PathBuf::from(format!("/proc/self/fd/{}", ns.as_raw_fd()));
        let named = std::fs::read_link(&link).unwrap_or(link);
        self.push(Call::Setns(nstype, named.display().to_string()));
        Ok(())
    }

    fn unshare(&self, flags: CloneFlags) -> nix::Result<()> {
        self.push(Call::Unshare(flags));
        Ok(())
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        self.refused("umount2")?;
        self.push(Call::Umount(self.host(target), flags));
        Ok(())
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> nix::Result<()> {
        self.push(Call::PivotRoot(self.host(new_root), self.host(put_old)));
        Ok(())
    }

    fn chroot(&self, path: &Path) -> nix::Result<()> {
        self.push(Call::Chroot(self.host(path)));
        Ok(())
    }

    fn chdir(&self, path: &Path) -> nix::Result<()> {
        self.push(Call::Chdir(self.host(path)));
        Ok(())
    }

    fn fchdir(&self, dir: &OwnedFd) -> nix::Result<()> {
        let link = fd_path(dir);
        let named = std::fs::read_link(&link).unwrap_or(link);
        self.push(Call::Fchdir(self.host(&named)));
        Ok(())
    }

    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: u64) -> nix::Result<()> {
        // A placeholder file stands for the node, for what follows
        // (chmod) to find.
        std::fs::File::create(path).map_err(|_| nix::Error::EIO)?;
        self.push(Call::Mknod(self.rel(path), kind, perm.bits(), dev));
        Ok(())
    }

    fn chown(&self, path: &Path, uid: Option<Uid>, gid: Option<Gid>) -> nix::Result<()> {
        let (uid, gid) = (uid.map(Uid::as_raw), gid.map(Gid::as_raw));
        self.push(Call::Chown(self.rel(path), uid, gid));
        Ok(())
    }

    fn sethostname(&self, name: &str) -> nix::Result<()> {
        self.push(Call::Sethostname(name.into()));
        Ok(())
    }

    fn setdomainname(&self, name: &str) -> nix::Result<()> {
        self.push(Call::Setdomainname(name.into()));
        Ok(())
    }

    fn setgroups(&self, gids: &[Gid]) -> nix::Result<()> {
        self.push(Call::Setgroups(gids.iter().map(|g| g.as_raw()).collect()));
        Ok(())
    }

    fn setresgid(&self, gid: Gid) -> nix::Result<()> {
        self.push(Call::Setresgid(gid.as_raw()));
        Ok(())
    }

    fn setresuid(&self, uid: Uid) -> nix::Result<()> {
        self.push(Call::Setresuid(uid.as_raw()));
        Ok(())
    }

    fn set_keepcaps(&self, keep: bool) -> nix::Result<()> {
        self.push(Call::KeepCaps(keep));
        Ok(())
    }

    fn set_no_new_privs(&self) -> nix::Result<()> {
        self.push(Call::NoNewPrivs);
        Ok(())
    }

    fn umask(&self, mask: Mode) {
        self.push(Call::Umask(mask.bits()));
    }

    fn cap_has(&self, set: CapSet, cap: Cap) -> std::result::Result<bool, CapsError> {
        Ok(match set {
            CapSet::Bounding => self.bounding.borrow().contains(&cap),
            _ => self.permitted.borrow().contains(&cap),
        })
    }

    fn cap_read(&self, set: CapSet) -> std::result::Result<HashSet<Cap>, CapsError> {
        Ok(match set {
            CapSet::Bounding => self.bounding.borrow().clone(),
            _ => self.permitted.borrow().clone(),
        })
    }

    fn cap_drop(&self, set: CapSet, cap: Cap) -> std::result::Result<(), CapsError> {
        if let CapSet::Bounding = set {
            self.bounding.borrow_mut().remove(&cap);
        }
        self.push(Call::CapDrop(Self::set_name(set), cap));
        Ok(())
    }

    fn cap_set(&self, set: CapSet, caps: &HashSet<Cap>) -> std::result::Result<(), CapsError> {
        if let CapSet::Permitted = set {
            *self.permitted.borrow_mut() = caps.clone();
        }
        let mut names: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        names.sort();
        self.push(Call::CapSet(Self::set_name(set), names));
        Ok(())
    }

    fn cap_clear(&self, set: CapSet) -> std::result::Result<(), CapsError> {
        self.push(Call::CapClear(Self::set_name(set)));
        Ok(())
    }

    fn cap_raise(&self, set: CapSet, cap: Cap) -> std::result::Result<(), CapsError> {
        self.push(Call::CapRaise(Self::set_name(set), cap));
        Ok(())
    }

    fn install_seccomp(&self, _filter: &Program) -> Result<()> {
        self.push(Call::Seccomp);
        Ok(())
    }

    fn cgroup_create(&self, cgroup: &Cgroup) -> std::result::Result<(), CgroupError> {
        self.push(Call::CgroupCreate(cgroup.path().into()));
        Ok(())
    }

    fn cgroup_apply(
        &self,
        cgroup: &Cgroup,
        resources: &LinuxResources,
    ) -> std::result::Result<Vec<String>, CgroupError> {
        let rules = resources.devices.as_ref().map_or(0, Vec::len);
        self.push(Call::CgroupApply(cgroup.path().into(), rules));
        Ok(Vec::new())
    }

    fn cgroup_add_process(
        &self,
        cgroup: &Cgroup,
        pid: i32,
    ) -> std::result::Result<(), CgroupError> {
        self.push(Call::CgroupAddProcess(cgroup.path().into(), pid));
        Ok(())
    }

    fn setrlimit(
        &self,
        resource: libc::__rlimit_resource_t,
        soft: u64,
        hard: u64,
    ) -> nix::Result<()> {
        self.refused("setrlimit")?;
        if self.rlimit_ceiling.get().is_some_and(|max| hard > max) {
            return Err(nix::Error::EPERM);
        }
        self.push(Call::Setrlimit(resource, soft, hard));
        Ok(())
    }

    fn getrlimit(&self, _resource: libc::__rlimit_resource_t) -> nix::Result<(u64, u64)> {
        self.refused("getrlimit")?;
        let max = self.rlimit_ceiling.get().unwrap_or(libc::RLIM_INFINITY);
        Ok((max, max))
    }

    fn write_proc(&self, path: &Path, value: &str) -> Result<()> {
        self.refused("write_proc")
            .map_err(|e| OciError::sys(format!("open {}", path.display()), e))?;
        self.push(Call::WriteProc(path.display().to_string(), value.into()));
        Ok(())
    }

    fn write_attr(&self, path: &Path, value: &str) -> std::io::Result<()> {
        self.refused("write_attr")?;
        self.push(Call::WriteAttr(path.display().to_string(), value.into()));
        Ok(())
    }

    fn setsid(&self) -> nix::Result<()> {
        self.refused("setsid")?;
        self.push(Call::Setsid);
        Ok(())
    }

    fn dup2(&self, _fd: BorrowedFd<'_>, target: i32) -> nix::Result<()> {
        self.refused("dup2")?;
        self.push(Call::Dup2(target));
        Ok(())
    }

    fn set_controlling_terminal(&self, tty: i32) -> nix::Result<()> {
        self.refused("set_controlling_terminal")?;
        self.push(Call::SetControllingTerminal(tty));
        Ok(())
    }

    fn join_session_keyring(&self, name: &CStr) -> nix::Result<libc::c_long> {
        self.refused("join_session_keyring")?;
        let name = name.to_string_lossy().into_owned();
        self.push(Call::JoinSessionKeyring(name));
        Ok(libc::c_long::from(KEYRING_SERIAL))
    }

    fn describe_key(&self, _serial: i32, buf: &mut [u8]) -> nix::Result<libc::c_long> {
        self.refused("describe_key")?;
        let text = self.key_description.borrow();
        let n = text.len().min(buf.len());
        buf[..n].copy_from_slice(&text.as_bytes()[..n]);
        Ok(n as libc::c_long)
    }

    fn set_key_permissions(&self, serial: i32, perm: u32) -> nix::Result<()> {
        self.refused("set_key_permissions")?;
        self.push(Call::SetKeyPermissions(serial, perm));
        Ok(())
    }

    fn mark_fds_cloexec_from(&self, first: u32) -> Result<()> {
        self.push(Call::MarkFdsCloexecFrom(first));
        Ok(())
    }

    fn keep_preserved_fds(&self, end: u32) -> Result<()> {
        self.push(Call::KeepPreservedFds(end));
        Ok(())
    }

    fn reset_signals(&self) -> Result<()> {
        self.push(Call::ResetSignals);
        Ok(())
    }
}
