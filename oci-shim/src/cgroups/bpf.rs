//! The bpf(2) calls behind cgroup v2 device rules: load a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program, attach it to the cgroup with
//! `BPF_F_ALLOW_MULTI`, and detach the programs it replaces, as runc does
//! (attaching first, so the cgroup is never without a filter).
//!
//! The attribute structs are the leading parts of the kernel's `union
//! bpf_attr` for each command; the kernel accepts a shorter size.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;

use super::devfilter::Insn;
use super::error::CgroupError;

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct Attach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct Query {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdById {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(cmd, attr, sizeof attr).
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> nix::Result<libc::c_long> {
    // SAFETY: `attr` is a live, properly sized #[repr(C)] prefix of union
    // bpf_attr; every pointer inside it points to memory that outlives
    // the call (the caller keeps the buffers alive).
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    Errno::result(rc)
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel returned a new descriptor nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

fn err(dir: &Path, what: &str, e: Errno) -> CgroupError {
    CgroupError::Unsupported {
        field: "devices".into(),
        reason: format!("{what} for {}: {e}", dir.display()),
    }
}

/// Loads the program; a refusal carries the verifier's log.
fn load(prog: &[Insn], dir: &Path) -> Result<OwnedFd, CgroupError> {
    let license = c"Apache";
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(prog.len()).unwrap_or(u32::MAX),
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..ProgLoad::default()
    };
    attr.prog_name[..9].copy_from_slice(b"cradle_dv");
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(owned(fd)),
        Err(e) => {
            // Again with the verifier's log, for the message.
            attr.log_level = 1;
            attr.log_size = u32::try_from(log.len()).unwrap_or(0);
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr).map(owned);
            let text = String::from_utf8_lossy(&log);
            let text = text.trim_end_matches('\0').trim();
            Err(err(
                dir,
                &format!("load the device filter program ({text})"),
                e,
            ))
        }
    }
}

/// The ids of the device programs attached to `cgroup` now.
fn attached(cgroup: &OwnedFd, dir: &Path) -> Result<Vec<u32>, CgroupError> {
    let mut ids = vec![0u32; 64];
    let mut q = Query {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: 64,
        ..Query::default()
    };
    bpf(BPF_PROG_QUERY, &mut q).map_err(|e| err(dir, "query device programs", e))?;
    ids.truncate(q.prog_cnt as usize);
    Ok(ids)
}

/// Replaces the device programs of the cgroup directory `dir` with one
/// generated from `prog`.
pub(super) fn install(dir: &Path, prog: &[Insn]) -> Result<(), CgroupError> {
    let cgroup = nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| err(dir, "open cgroup", e))?;
    let new = load(prog, dir)?;
    let old = attached(&cgroup, dir)?;
    let mut a = Attach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: new.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Attach::default()
    };
    bpf(BPF_PROG_ATTACH, &mut a).map_err(|e| err(dir, "attach the device filter", e))?;
    for id in old {
        let mut g = GetFdById {
            prog_id: id,
            ..GetFdById::default()
        };
        let fd = match bpf(BPF_PROG_GET_FD_BY_ID, &mut g) {
            Ok(fd) => owned(fd),
            // Detached meanwhile (a concurrent update): nothing to do.
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(err(dir, "open an old device program", e)),
        };
        let mut d = Attach {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Attach::default()
        };
        match bpf(BPF_PROG_DETACH, &mut d) {
            Ok(_) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(err(dir, "detach an old device program", e)),
        }
    }
    Ok(())
}
