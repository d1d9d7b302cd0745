//! `linux.seccomp`: OCI profiles compiled to a classic-BPF filter and
//! installed with seccomp(2), as libseccomp would for runc.
//!
//! One section per architecture: the native one (always, as libseccomp
//! adds it) and every one the profile lists in `architectures`, each
//! checking `seccomp_data.arch` and using its own syscall table, so i386
//! syscalls of a profile listing `SCMP_ARCH_X86` are filtered by their own
//! numbers. Anything else gets the bad-architecture action, KILL_PROCESS.
//! x32 (bit 30 of the syscall number under `AUDIT_ARCH_X86_64`) is a bad
//! architecture unless listed, so x32 numbers can neither match x86_64
//! rules nor fall through to an allowing default. Within a section a
//! binary search over syscall numbers finds the rules ([`codegen`]). Names
//! unknown on one architecture are skipped there only, as libseccomp does.
//!
//! Why not a crate: seccompiler (firecracker's) compiles for one target
//! architecture per filter (x86_64 and aarch64 only) and knows neither x32
//! nor i386 nor ARM; libseccomp would mean a C library linked into the
//! static launcher with the syscall table of the build host's libseccomp
//! (Debian 12's 2.5.4 lacks every syscall added since 5.19). The tables
//! here are generated from libseccomp's own syscalls.csv
//! (hack/gen-seccomp-syscalls.py) and cost about 6 KiB.

mod arch;
mod args;
mod bpf;
mod codegen;
#[cfg(test)]
mod interp;
mod syscalls;
#[cfg(test)]
mod tests;

use crate::oci::error::{OciError, Result};
use crate::spec::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag};
use arch::Listed;

/// What a syscall of an architecture the filter was not compiled for gets:
/// the whole process is killed (libseccomp's default kills the thread only).
const RET_KILL_PROCESS: u32 = 0x8000_0000;

/// The kernel's limit on a filter (BPF_MAXINSNS).
const MAX_INSTRUCTIONS: usize = 4096;

/// A compiled filter and the flags to install it with.
pub(crate) struct Program {
    filter: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
}

/// Compiles an OCI profile.
pub(crate) fn compile(profile: &LinuxSeccomp) -> Result<Program> {
    let unsupported = |what: &str| Err(OciError::Unsupported(format!("seccomp {what}")));
    let Some(native) = arch::NATIVE else {
        return unsupported("on this architecture");
    };
    if profile.listener_path.is_some() {
        return unsupported("listener (SCMP_ACT_NOTIFY)");
    }
    let action = |a: LinuxSeccompAction, errno: Option<u32>| -> Result<u32> {
        match a {
            LinuxSeccompAction::ScmpActNotify => {
                Err(OciError::Unsupported("seccomp SCMP_ACT_NOTIFY".into()))
            }
            other => Ok(other.as_u32(errno)),
        }
    };
    let default = action(profile.default_action, profile.default_errno_ret)?;

    let mut arches = vec![native];
    for name in profile.architectures.as_deref().unwrap_or(&[]) {
        match Listed::parse(name) {
            Some(Listed::Known(a)) if !arches.contains(&a) => arches.push(a),
            Some(_) => {}
            None => return unsupported(&format!("architecture {name:?}")),
        }
    }

    let mut rules = Vec::new();
    for sc in profile.syscalls.as_deref().unwrap_or(&[]) {
        let ret = action(sc.action, sc.errno_ret)?;
        if ret == default {
            continue;
        }
        let args = sc.args.as_deref().unwrap_or(&[]);
        if args.iter().any(|a| a.index > 5) {
            return unsupported("argument index above 5");
        }
        rules.push(codegen::Rule {
            names: &sc.names,
            args,
            action: ret,
        });
    }
    let filter = codegen::generate(&arches, &rules, default, RET_KILL_PROCESS)
        .map_err(|e| OciError::Unsupported(e.to_string()))?;
    if filter.len() > MAX_INSTRUCTIONS {
        return unsupported(&format!(
            "profile of {} BPF instructions (the kernel takes {MAX_INSTRUCTIONS})",
            filter.len()
        ));
    }
    let mut flags = 0;
    for f in profile.flags.as_deref().unwrap_or(&[]) {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            other => return unsupported(&format!("flag {other:?}")),
        };
    }
    Ok(Program { filter, flags })
}

/// The architectures a filter can be compiled for here, for `features`.
pub(crate) fn supported_arches() -> &'static [&'static str] {
    if arch::NATIVE.is_some() {
        &[
            "SCMP_ARCH_X86_64",
            "SCMP_ARCH_X86",
            "SCMP_ARCH_X32",
            "SCMP_ARCH_AARCH64",
            "SCMP_ARCH_ARM",
        ]
    } else {
        &[]
    }
}

/// Installs the filter on the calling process (needs no_new_privs or
/// CAP_SYS_ADMIN).
pub(crate) fn install(p: &Program) -> Result<()> {
    let prog = libc::sock_fprog {
        len: u16::try_from(p.filter.len())
            .map_err(|_| OciError::Unsupported("seccomp filter too long".into()))?,
        filter: p.filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `p.filter`, which outlives the call; the
    // kernel copies the program and does not keep the pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            p.flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(OciError::sys("install seccomp filter", nix::Error::last()));
    }
    Ok(())
}
