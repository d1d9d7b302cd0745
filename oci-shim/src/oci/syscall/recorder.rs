//! [`Recorder`]: the seam's test side. It makes no call; it records each
//! one, in order, with paths shown relative to the rootfs, and answers the
//! capability reads from sets it keeps, so the set-up logic's call
//! sequence for a spec can be asserted without root.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use caps::errors::CapsError;
use caps::{CapSet, Capability as Cap};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};

use crate::cgroups::{Cgroup, CgroupError};
use crate::oci::error::Result;
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
}

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
}
