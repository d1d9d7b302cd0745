//! `linux.seccomp`: OCI profiles compiled to a classic-BPF filter and
//! installed with seccomp(2), as libseccomp would for runc.
//!
//! One linear filter: the architecture check, then one block per rule
//! (syscall number, then its argument conditions, ANDed), the first match
//! returning its action, and the default action last. Rules with argument
//! conditions come before unconditional ones for the same syscall. Names
//! unknown on this architecture are skipped, as libseccomp does.

mod bpf;
#[cfg(target_arch = "x86_64")]
mod syscalls_x86_64;

use super::error::{OciError, Result};
use crate::spec::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use bpf::{Asm, Cmp, Target};

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "x86_64")]
use syscalls_x86_64::SYSCALLS;

const RET_KILL_PROCESS: u32 = 0x8000_0000;

/// A compiled filter and the flags to install it with.
pub(crate) struct Program {
    filter: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
}

/// The number of a syscall on this architecture.
#[cfg(target_arch = "x86_64")]
pub(crate) fn syscall_number(name: &str) -> Option<u32> {
    SYSCALLS.iter().find(|(n, _)| *n == name).map(|(_, nr)| *nr)
}

/// Compiles an OCI profile.
#[cfg(target_arch = "x86_64")]
pub(crate) fn compile(profile: &LinuxSeccomp) -> Result<Program> {
    let unsupported = |what: &str| Err(OciError::Unsupported(format!("seccomp {what}")));
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

    // (nr, args, action) in profile order, conditional rules first per syscall.
    let mut rules: Vec<(u32, Vec<LinuxSeccompArg>, u32)> = Vec::new();
    for sc in profile.syscalls.as_deref().unwrap_or(&[]) {
        let ret = action(sc.action, sc.errno_ret)?;
        if ret == default {
            continue;
        }
        let args = sc.args.clone().unwrap_or_default();
        if args.iter().any(|a| a.index > 5) {
            return unsupported("argument index above 5");
        }
        for name in &sc.names {
            if let Some(nr) = syscall_number(name) {
                rules.push((nr, args.clone(), ret));
            }
        }
    }
    rules.sort_by_key(|(_, args, _)| args.is_empty());

    let mut asm = Asm::default();
    let arch_ok = asm.label();
    asm.load(bpf::OFF_ARCH);
    asm.jump(Cmp::Eq, AUDIT_ARCH, Target::Label(arch_ok), Target::Next);
    asm.ret(RET_KILL_PROCESS);
    asm.place(arch_ok);
    let mut a_holds_nr = false;
    for (nr, args, ret) in &rules {
        let end = asm.label();
        if !a_holds_nr {
            asm.load(bpf::OFF_NR);
        }
        asm.jump(Cmp::Eq, *nr, Target::Next, Target::Label(end));
        for arg in args {
            emit_arg(&mut asm, arg, end);
        }
        asm.ret(*ret);
        asm.place(end);
        a_holds_nr = args.is_empty();
    }
    asm.ret(default);
    let filter = asm
        .finish()
        .map_err(|e| OciError::Unsupported(e.to_string()))?;
    if filter.len() > 4096 {
        return unsupported("profile larger than 4096 BPF instructions");
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

/// Not on this architecture yet: refuse clearly.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn compile(_profile: &LinuxSeccomp) -> Result<Program> {
    Err(OciError::Unsupported("seccomp on this architecture".into()))
}

/// One 64-bit argument condition; falls through when it holds, jumps to
/// `fail` otherwise. The high word is compared first.
fn emit_arg(asm: &mut Asm, arg: &LinuxSeccompArg, fail: usize) {
    let (i, v) = (arg.index, arg.value);
    let (vhi, vlo) = ((v >> 32) as u32, v as u32);
    let fail = Target::Label(fail);
    match arg.op {
        LinuxSeccompOperator::ScmpCmpEq => {
            asm.load(bpf::off_arg_hi(i));
            asm.jump(Cmp::Eq, vhi, Target::Next, fail);
            asm.load(bpf::off_arg_lo(i));
            asm.jump(Cmp::Eq, vlo, Target::Next, fail);
        }
        LinuxSeccompOperator::ScmpCmpNe => {
            let ok = asm.label();
            asm.load(bpf::off_arg_hi(i));
            asm.jump(Cmp::Eq, vhi, Target::Next, Target::Label(ok));
            asm.load(bpf::off_arg_lo(i));
            asm.jump(Cmp::Eq, vlo, fail, Target::Label(ok));
            asm.place(ok);
        }
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            let want = arg.value_two.unwrap_or(0);
            asm.load(bpf::off_arg_hi(i));
            asm.and(vhi);
            asm.jump(Cmp::Eq, (want >> 32) as u32, Target::Next, fail);
            asm.load(bpf::off_arg_lo(i));
            asm.and(vlo);
            asm.jump(Cmp::Eq, want as u32, Target::Next, fail);
        }
        op @ (LinuxSeccompOperator::ScmpCmpGt | LinuxSeccompOperator::ScmpCmpGe) => {
            let ok = asm.label();
            let lo_cmp = if op == LinuxSeccompOperator::ScmpCmpGt {
                Cmp::Gt
            } else {
                Cmp::Ge
            };
            asm.load(bpf::off_arg_hi(i));
            asm.jump(Cmp::Gt, vhi, Target::Label(ok), Target::Next);
            asm.jump(Cmp::Eq, vhi, Target::Next, fail);
            asm.load(bpf::off_arg_lo(i));
            asm.jump(lo_cmp, vlo, Target::Next, fail);
            asm.place(ok);
        }
        op @ (LinuxSeccompOperator::ScmpCmpLt | LinuxSeccompOperator::ScmpCmpLe) => {
            // a < v  ⇔ !(a >= v);  a <= v ⇔ !(a > v)
            let ok = asm.label();
            let lo_cmp = if op == LinuxSeccompOperator::ScmpCmpLt {
                Cmp::Ge
            } else {
                Cmp::Gt
            };
            asm.load(bpf::off_arg_hi(i));
            asm.jump(Cmp::Gt, vhi, fail, Target::Next);
            asm.jump(Cmp::Eq, vhi, Target::Next, Target::Label(ok));
            asm.load(bpf::off_arg_lo(i));
            asm.jump(lo_cmp, vlo, fail, Target::Next);
            asm.place(ok);
        }
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

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    const ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = 0x0005_0001;

    fn profile(json: &str) -> Program {
        compile(&serde_json::from_str(json).unwrap()).unwrap()
    }

    fn run(p: &Program, name: &str, args: [u64; 6]) -> u32 {
        bpf::run(&p.filter, syscall_number(name).unwrap(), AUDIT_ARCH, args)
    }

    #[test]
    fn allow_list_with_default_errno() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["read","write","not_a_syscall"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        assert_eq!(run(&p, "read", [0; 6]), ALLOW);
        assert_eq!(run(&p, "write", [0; 6]), ALLOW);
        assert_eq!(run(&p, "mount", [0; 6]), EPERM);
        assert_eq!(
            bpf::run(&p.filter, 0, 0x4000_0003, [0; 6]),
            RET_KILL_PROCESS,
            "foreign arch"
        );
    }

    #[test]
    fn argument_operators_compare_all_64_bits() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":38,"args":[{"index":0,"value":4294967296,"op":"SCMP_CMP_EQ"}]},
            {"names":["socket"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":40,"op":"SCMP_CMP_NE"}]},
            {"names":["clone"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]},
            {"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":2,"value":100,"op":"SCMP_CMP_GT"}]},
            {"names":["write"],"action":"SCMP_ACT_ERRNO","args":[{"index":2,"value":100,"op":"SCMP_CMP_LE"}]},
            {"names":["pread64"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":5,"op":"SCMP_CMP_GE"},{"index":1,"value":7,"op":"SCMP_CMP_LT"}]}]}"#,
        );
        assert_eq!(
            run(&p, "personality", [1 << 32, 0, 0, 0, 0, 0]),
            0x0005_0000 | 38
        );
        assert_eq!(run(&p, "personality", [0, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(run(&p, "socket", [2, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(run(&p, "socket", [40, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(run(&p, "socket", [40 | (1 << 32), 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(
            run(&p, "clone", [0x11, 0, 0, 0, 0, 0]),
            EPERM,
            "no namespace flags"
        );
        assert_eq!(
            run(&p, "clone", [0x2000_0000, 0, 0, 0, 0, 0]),
            ALLOW,
            "CLONE_NEWPID"
        );
        assert_eq!(run(&p, "read", [0, 0, 101, 0, 0, 0]), EPERM);
        assert_eq!(run(&p, "read", [0, 0, 100, 0, 0, 0]), ALLOW);
        assert_eq!(run(&p, "read", [0, 0, 1 << 40, 0, 0, 0]), EPERM);
        assert_eq!(run(&p, "write", [0, 0, 100, 0, 0, 0]), EPERM);
        assert_eq!(run(&p, "write", [0, 0, 1 << 33, 0, 0, 0]), ALLOW);
        assert_eq!(run(&p, "pread64", [5, 6, 0, 0, 0, 0]), EPERM);
        assert_eq!(run(&p, "pread64", [5, 7, 0, 0, 0, 0]), ALLOW);
        assert_eq!(run(&p, "pread64", [4, 0, 0, 0, 0, 0]), ALLOW);
    }

    #[test]
    fn conditional_rules_win_over_unconditional_ones_for_a_syscall() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["socket"],"action":"SCMP_ACT_ALLOW"},
            {"names":["socket"],"action":"SCMP_ACT_KILL_PROCESS","args":[{"index":0,"value":40,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        assert_eq!(run(&p, "socket", [40, 0, 0, 0, 0, 0]), RET_KILL_PROCESS);
        assert_eq!(run(&p, "socket", [2, 0, 0, 0, 0, 0]), ALLOW);
    }

    #[test]
    fn a_profile_naming_every_syscall_fits_the_kernel_limit() {
        let names: Vec<&str> = SYSCALLS.iter().map(|(n, _)| *n).collect();
        let json = serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]});
        let p = compile(&serde_json::from_value(json).unwrap()).unwrap();
        assert!(p.filter.len() < 1024, "{} instructions", p.filter.len());
        assert_eq!(run(&p, "mseal", [0; 6]), ALLOW);
        assert_eq!(bpf::run(&p.filter, 9999, AUDIT_ARCH, [0; 6]), EPERM);
    }

    #[test]
    fn notify_is_refused() {
        let r = compile(&serde_json::from_str(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#).unwrap());
        assert!(r.is_err());
    }
}
