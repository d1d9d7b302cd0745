//! Compiled profiles run on synthetic `seccomp_data` in [`interp`], and
//! checked against a naive linear evaluation of the same rules.

use super::arch::{Arch, X32_SYSCALL_BIT};
use super::interp::{self, SeccompData};
use super::*;
use crate::spec::{LinuxSeccompArg, LinuxSeccompOperator};

const ALLOW: u32 = 0x7fff_0000;
const EPERM: u32 = 0x0005_0001;
const KILL: u32 = RET_KILL_PROCESS;

fn profile(json: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(json).unwrap()
}

fn compiled(json: serde_json::Value) -> Program {
    compile(&profile(json)).unwrap()
}

/// Runs `p` for syscall `name` of `arch` (x32 numbers carry their bit).
fn run(p: &Program, arch: Arch, name: &str, args: [u64; 6]) -> u32 {
    let nr = arch
        .syscall(name)
        .unwrap_or_else(|| panic!("{name} on {arch:?}"));
    interp::run(&p.filter, &SeccompData::new(arch.audit(), nr, args))
}

fn run_nr(p: &Program, audit: u32, nr: u32) -> u32 {
    interp::run(&p.filter, &SeccompData::new(audit, nr, [0; 6]))
}

#[test]
fn x32_numbers_do_not_bypass_an_x86_64_deny_list() {
    let p = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mount", "ptrace", "readv"], "action": "SCMP_ACT_ERRNO"}]}));
    assert_eq!(run(&p, Arch::X86_64, "mount", [0; 6]), EPERM);
    assert_eq!(run(&p, Arch::X86_64, "read", [0; 6]), ALLOW);
    // x32 mount is x86_64's 165 with bit 30; x32 ptrace and readv have
    // numbers of their own (521, 515): none may reach the allowing default.
    for name in ["mount", "ptrace", "readv", "read"] {
        assert_eq!(run(&p, Arch::X32, name, [0; 6]), KILL, "x32 {name}");
    }
    assert_eq!(run_nr(&p, Arch::X86_64.audit(), X32_SYSCALL_BIT), KILL);
    assert_eq!(run_nr(&p, Arch::X86_64.audit(), 0x7fff_ffff), KILL);
    // -1, a tracer's "skip", is not x32.
    assert_eq!(run_nr(&p, Arch::X86_64.audit(), u32::MAX), ALLOW);
}

#[test]
fn x32_listed_gets_its_own_numbers() {
    let p = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mount", "ptrace", "readv"], "action": "SCMP_ACT_ERRNO"}]}));
    for name in ["mount", "ptrace", "readv"] {
        assert_eq!(run(&p, Arch::X86_64, name, [0; 6]), EPERM, "x86_64 {name}");
        assert_eq!(run(&p, Arch::X32, name, [0; 6]), EPERM, "x32 {name}");
    }
    assert_eq!(run(&p, Arch::X32, "read", [0; 6]), ALLOW);
    // x86_64's readv (19) under bit 30 is not x32's readv.
    assert_eq!(
        run_nr(&p, Arch::X86_64.audit(), 19 | X32_SYSCALL_BIT),
        ALLOW
    );

    // An allow-list: x32 numbers other than the listed ones get the default.
    let p = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["read", "readv"], "action": "SCMP_ACT_ALLOW"}]}));
    assert_eq!(run(&p, Arch::X32, "readv", [0; 6]), ALLOW);
    assert_eq!(run(&p, Arch::X32, "read", [0; 6]), ALLOW);
    assert_eq!(run(&p, Arch::X32, "mount", [0; 6]), EPERM);
    assert_eq!(
        run_nr(&p, Arch::X86_64.audit(), 19 | X32_SYSCALL_BIT),
        EPERM
    );
}

#[test]
fn i386_syscalls_are_filtered_by_their_numbers_when_listed_and_killed_otherwise() {
    let rules = serde_json::json!([
        {"names": ["read", "write", "exit_group", "socket", "shmget", "mmap2"], "action": "SCMP_ACT_ALLOW"}]);
    let listed = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "syscalls": rules}));
    assert_eq!(run(&listed, Arch::X86, "read", [0; 6]), ALLOW);
    assert_eq!(run(&listed, Arch::X86, "mmap2", [0; 6]), ALLOW);
    assert_eq!(run(&listed, Arch::X86, "mount", [0; 6]), EPERM);
    // i386's 3 is read; x86_64's 3 is close, not allowed.
    assert_eq!(run_nr(&listed, Arch::X86.audit(), 3), ALLOW);
    assert_eq!(run_nr(&listed, Arch::X86_64.audit(), 3), EPERM);
    // socket and shmget also through socketcall(SYS_SOCKET)/ipc(SHMGET).
    assert_eq!(run(&listed, Arch::X86, "socket", [0; 6]), ALLOW);
    assert_eq!(
        run(&listed, Arch::X86, "socketcall", [1, 0, 0, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(
        run(&listed, Arch::X86, "socketcall", [2, 0, 0, 0, 0, 0]),
        EPERM,
        "bind"
    );
    assert_eq!(run(&listed, Arch::X86, "ipc", [23, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(
        run(&listed, Arch::X86, "ipc", [21, 0, 0, 0, 0, 0]),
        EPERM,
        "shmat"
    );

    let unlisted = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"], "syscalls": rules}));
    assert_eq!(run(&unlisted, Arch::X86, "read", [0; 6]), KILL);
    assert_eq!(run(&unlisted, Arch::X86_64, "read", [0; 6]), ALLOW);
}

#[test]
fn a_deny_list_catches_multiplexed_socket_calls_on_i386() {
    let p = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO"}]}));
    assert_eq!(run(&p, Arch::X86, "socket", [0; 6]), EPERM);
    assert_eq!(run(&p, Arch::X86, "socketcall", [1, 0, 0, 0, 0, 0]), EPERM);
    assert_eq!(run(&p, Arch::X86, "socketcall", [3, 0, 0, 0, 0, 0]), ALLOW);
}

#[test]
fn aarch64_and_arm_sections_use_their_own_tables() {
    let p = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "syscalls": [
            {"names": ["read", "openat", "cacheflush", "open"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mount"], "action": "SCMP_ACT_KILL_PROCESS"}]}));
    assert_eq!(run_nr(&p, Arch::Aarch64.audit(), 63), ALLOW, "aarch64 read");
    assert_eq!(run(&p, Arch::Aarch64, "openat", [0; 6]), ALLOW);
    assert_eq!(run(&p, Arch::Aarch64, "mount", [0; 6]), KILL);
    assert_eq!(run(&p, Arch::Aarch64, "write", [0; 6]), EPERM);
    assert_eq!(
        Arch::Aarch64.syscall("open"),
        None,
        "aarch64 has no open: skipped there"
    );
    assert_eq!(run_nr(&p, Arch::Arm.audit(), 3), ALLOW, "arm read");
    assert_eq!(run_nr(&p, Arch::Arm.audit(), 5), ALLOW, "arm open");
    assert_eq!(
        run_nr(&p, Arch::Arm.audit(), 0x0f_0002),
        ALLOW,
        "arm cacheflush"
    );
    assert_eq!(run(&p, Arch::Arm, "mount", [0; 6]), KILL);
    assert_eq!(run(&p, Arch::Arm, "write", [0; 6]), EPERM);
    // The native architecture is always there; others are bad.
    #[cfg(target_arch = "x86_64")]
    assert_eq!(run(&p, Arch::X86_64, "read", [0; 6]), ALLOW);
    assert_eq!(run_nr(&p, 0xc000_0028, 0), KILL, "an unlisted architecture");
}

#[test]
fn foreign_architectures_are_accepted_and_unknown_names_refused() {
    let p = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390X"]}));
    assert_eq!(
        run_nr(&p, 0xc000_0015, 0),
        KILL,
        "ppc64le is a bad architecture here"
    );
    let r = compile(&profile(
        serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_PDP11"]}),
    ));
    assert!(r.is_err());
}

#[cfg(target_arch = "x86_64")]
#[test]
fn argument_operators_compare_all_64_bits() {
    let p = compiled(
        serde_json::json!({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":38,"args":[{"index":0,"value":4294967296u64,"op":"SCMP_CMP_EQ"}]},
        {"names":["socket"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":40,"op":"SCMP_CMP_NE"}]},
        {"names":["clone"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]},
        {"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":2,"value":100,"op":"SCMP_CMP_GT"}]},
        {"names":["write"],"action":"SCMP_ACT_ERRNO","args":[{"index":2,"value":100,"op":"SCMP_CMP_LE"}]},
        {"names":["pread64"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":5,"op":"SCMP_CMP_GE"},{"index":1,"value":7,"op":"SCMP_CMP_LT"}]}]}),
    );
    let r = |name, args| run(&p, Arch::X86_64, name, args);
    assert_eq!(r("personality", [1 << 32, 0, 0, 0, 0, 0]), 0x0005_0000 | 38);
    assert_eq!(r("personality", [0; 6]), ALLOW);
    assert_eq!(r("socket", [2, 0, 0, 0, 0, 0]), EPERM);
    assert_eq!(r("socket", [40, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(r("socket", [40 | (1 << 32), 0, 0, 0, 0, 0]), EPERM);
    assert_eq!(
        r("clone", [0x11, 0, 0, 0, 0, 0]),
        EPERM,
        "no namespace flags"
    );
    assert_eq!(
        r("clone", [0x2000_0000, 0, 0, 0, 0, 0]),
        ALLOW,
        "CLONE_NEWPID"
    );
    assert_eq!(r("read", [0, 0, 101, 0, 0, 0]), EPERM);
    assert_eq!(r("read", [0, 0, 100, 0, 0, 0]), ALLOW);
    assert_eq!(r("read", [0, 0, 1 << 40, 0, 0, 0]), EPERM);
    assert_eq!(r("write", [0, 0, 100, 0, 0, 0]), EPERM);
    assert_eq!(r("write", [0, 0, 1 << 33, 0, 0, 0]), ALLOW);
    assert_eq!(r("pread64", [5, 6, 0, 0, 0, 0]), EPERM);
    assert_eq!(r("pread64", [5, 7, 0, 0, 0, 0]), ALLOW);
    assert_eq!(r("pread64", [4, 0, 0, 0, 0, 0]), ALLOW);
}

#[test]
fn thirty_two_bit_abis_compare_the_low_word_as_libseccomp() {
    let p = compiled(serde_json::json!({"defaultAction":"SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86"], "syscalls":[
        {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
        {"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":2,"value":100,"op":"SCMP_CMP_LT"}]}]}));
    assert_eq!(run(&p, Arch::X86, "personality", [8, 0, 0, 0, 0, 0]), EPERM);
    assert_eq!(
        run(&p, Arch::X86, "personality", [8 | (1 << 32), 0, 0, 0, 0, 0]),
        EPERM
    );
    assert_eq!(run(&p, Arch::X86, "personality", [9, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(
        run(&p, Arch::X86, "read", [0, 0, 99 | (1 << 40), 0, 0, 0]),
        EPERM
    );
    assert_eq!(run(&p, Arch::X86, "read", [0, 0, 100, 0, 0, 0]), ALLOW);
}

#[test]
fn conditional_rules_win_over_unconditional_ones_for_a_syscall() {
    let p = compiled(
        serde_json::json!({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["socket"],"action":"SCMP_ACT_ALLOW"},
        {"names":["socket"],"action":"SCMP_ACT_KILL_PROCESS","args":[{"index":0,"value":40,"op":"SCMP_CMP_EQ"}]}]}),
    );
    let native = arch::NATIVE.unwrap();
    assert_eq!(run(&p, native, "socket", [40, 0, 0, 0, 0, 0]), KILL);
    assert_eq!(run(&p, native, "socket", [2, 0, 0, 0, 0, 0]), ALLOW);
}

#[test]
fn many_conditional_rules_on_one_syscall_jump_beyond_255_instructions() {
    let rules: Vec<_> = (0..200u64)
        .map(|v| {
            serde_json::json!({"names": ["ioctl"], "action": "SCMP_ACT_ERRNO",
            "errnoRet": v + 1, "args": [{"index": 1, "value": v << 20, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let p = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "syscalls": rules}));
    for arch in [Arch::X86_64, Arch::X86] {
        for v in [0u64, 1, 99, 199] {
            let got = run(&p, arch, "ioctl", [0, v << 20, 0, 0, 0, 0]);
            assert_eq!(got, 0x0005_0000 | (v as u32 + 1), "{arch:?} {v}");
        }
        assert_eq!(run(&p, arch, "ioctl", [0, 7, 0, 0, 0, 0]), ALLOW);
        assert_eq!(run(&p, arch, "read", [0; 6]), ALLOW);
    }
}

#[test]
fn the_runtime_default_shape_fits_the_kernel_limit_on_three_architectures() {
    let names: Vec<&str> = arch::all_names().collect();
    let p = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]}));
    assert!(p.filter.len() < 1024, "{} instructions", p.filter.len());
    for arch in [Arch::X86_64, Arch::X86, Arch::X32] {
        assert_eq!(run(&p, arch, "mseal", [0; 6]), ALLOW, "{arch:?}");
        assert_eq!(run(&p, arch, "read", [0; 6]), ALLOW, "{arch:?}");
    }
    assert_eq!(run_nr(&p, Arch::X86_64.audit(), 9999), EPERM);
}

#[test]
fn notify_is_refused() {
    let r = compile(&profile(
        serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}),
    ));
    assert!(r.is_err());
}

/// The rules' meaning, evaluated one by one: what the search must agree with.
fn naive(p: &LinuxSeccomp, listed: &[Arch], data: &SeccompData) -> u32 {
    let default = p.default_action.as_u32(p.default_errno_ret);
    let mut members: Vec<Arch> = listed
        .iter()
        .copied()
        .filter(|a| a.audit() == data.arch)
        .collect();
    members.sort();
    members.dedup();
    if members.is_empty() {
        return KILL;
    }
    let x32_bit = data.nr & X32_SYSCALL_BIT != 0;
    if data.arch == Arch::X86_64.audit() && data.nr != u32::MAX {
        let want = if x32_bit { Arch::X32 } else { Arch::X86_64 };
        if !members.contains(&want) {
            return KILL;
        }
    }
    let holds = |a: &LinuxSeccompArg, only_low: bool| {
        let (mut v, mut x, mut two) = (a.value, data.args[a.index], a.value_two.unwrap_or(0));
        if only_low {
            (v, x, two) = (v & 0xffff_ffff, x & 0xffff_ffff, two & 0xffff_ffff);
        }
        match a.op {
            LinuxSeccompOperator::ScmpCmpEq => x == v,
            LinuxSeccompOperator::ScmpCmpNe => x != v,
            LinuxSeccompOperator::ScmpCmpLt => x < v,
            LinuxSeccompOperator::ScmpCmpLe => x <= v,
            LinuxSeccompOperator::ScmpCmpGt => x > v,
            LinuxSeccompOperator::ScmpCmpGe => x >= v,
            LinuxSeccompOperator::ScmpCmpMaskedEq => x & v == two,
        }
    };
    // Conditional rules first, then unconditional ones, each in order. On
    // i386 a socket or IPC syscall also matches as socketcall/ipc with its
    // call number in the first argument (which replaces a condition there):
    // always a conditional rule.
    for conditional in [true, false] {
        for sc in p.syscalls.as_deref().unwrap_or(&[]) {
            let ret = sc.action.as_u32(sc.errno_ret);
            let args = sc.args.as_deref().unwrap_or(&[]);
            if ret == default {
                continue;
            }
            for name in &sc.names {
                for &m in &members {
                    let low = m.args_32bit();
                    if args.is_empty() != conditional
                        && m.syscall(name) == Some(data.nr)
                        && args.iter().all(|a| holds(a, low))
                    {
                        return ret;
                    }
                    if let Some((mux, call)) = m.multiplexed(name)
                        && conditional
                        && mux == data.nr
                        && data.args[0] & 0xffff_ffff == u64::from(call)
                        && args.iter().filter(|a| a.index != 0).all(|a| holds(a, low))
                    {
                        return ret;
                    }
                }
            }
        }
    }
    default
}

/// A small deterministic generator (xorshift), so the profile is the same
/// on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn a_300_rule_profile_agrees_with_a_linear_evaluation() {
    let names: Vec<&str> = arch::all_names().collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let actions = [
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_LOG",
    ];
    let ops = [
        "SCMP_CMP_EQ",
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_GT",
        "SCMP_CMP_GE",
        "SCMP_CMP_MASKED_EQ",
    ];
    let values = [0u64, 1, 2, 7, 0xffff_ffff, 1 << 32, (1 << 32) | 7, u64::MAX];
    let mut rules = Vec::new();
    for i in 0..300 {
        let n_names = 1 + rng.below(2) as usize;
        let rule_names: Vec<&str> = (0..n_names)
            .map(|_| names[rng.below(names.len() as u64) as usize])
            .collect();
        let mut rule = serde_json::json!({"names": rule_names,
            "action": actions[rng.below(actions.len() as u64) as usize],
            "errnoRet": 1 + i % 40});
        if rng.below(8) == 0 {
            let args: Vec<_> = (0..1 + rng.below(2))
                .map(|_| {
                    serde_json::json!({"index": rng.below(6),
                    "value": values[rng.below(values.len() as u64) as usize],
                    "valueTwo": values[rng.below(values.len() as u64) as usize],
                    "op": ops[rng.below(ops.len() as u64) as usize]})
                })
                .collect();
            rule["args"] = serde_json::json!(args);
        }
        rules.push(rule);
    }
    // Three architectures at a time: five would pass the kernel's 4096
    // instructions with this many distinct syscalls and actions.
    let groups: [&[Arch]; 2] = [&[Arch::X86, Arch::X32], &[Arch::Aarch64, Arch::Arm]];
    for (default, listed) in [
        ("SCMP_ACT_ERRNO", 0),
        ("SCMP_ACT_ALLOW", 0),
        ("SCMP_ACT_ERRNO", 1),
    ] {
        let listed = groups[listed];
        let names: Vec<&str> = listed
            .iter()
            .map(|a| match a {
                Arch::X86 => "SCMP_ARCH_X86",
                Arch::X32 => "SCMP_ARCH_X32",
                Arch::Aarch64 => "SCMP_ARCH_AARCH64",
                _ => "SCMP_ARCH_ARM",
            })
            .collect();
        let prof = profile(serde_json::json!({"defaultAction": default,
            "architectures": names, "syscalls": rules}));
        let p = compile(&prof).unwrap();
        let mut all = listed.to_vec();
        all.extend(arch::NATIVE);
        let mut checked = 0;
        let mut longest = 0;
        let mut hits = std::collections::BTreeSet::new();
        for arch in [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64, Arch::Arm] {
            for nr in (0..600).chain(0x0f_0000..0x0f_0008) {
                let nr = if arch == Arch::X32 {
                    nr | X32_SYSCALL_BIT
                } else {
                    nr
                };
                for _ in 0..2 {
                    let args = [0; 6].map(|_: u64| values[rng.below(values.len() as u64) as usize]);
                    let d = SeccompData::new(arch.audit(), nr, args);
                    let (got, steps) = interp::run_counted(&p.filter, &d);
                    longest = longest.max(steps);
                    assert_eq!(
                        got,
                        naive(&prof, &all, &d),
                        "{arch:?} nr {nr:#x} args {args:?}"
                    );
                    hits.insert(got);
                    checked += 1;
                }
            }
        }
        assert!(checked > 5_000);
        // A search, not a list: about 2 log2(rules) jumps, plus the
        // arguments of the rules of one syscall.
        assert!(longest < 80, "{longest} instructions ran for one syscall");
        assert!(hits.len() > 20, "only {} distinct actions seen", hits.len());
    }
}

/// Installed in a forked child: a listed syscall is denied, and an x32
/// syscall is killed whether or not this kernel has x32 enabled (the filter
/// runs before the syscall is dispatched).
#[cfg(target_arch = "x86_64")]
#[test]
fn installed_filter_denies_a_listed_syscall_and_kills_an_x32_one() {
    let p = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}));
    let x32_getpid = libc::c_long::from(Arch::X32.syscall("getpid").unwrap());
    // SAFETY: the child runs only raw syscalls (prctl, seccomp, getppid,
    // the x32 one, _exit) on memory that was ready before fork: nothing
    // that could need a lock another test thread held.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: see above; every path ends in _exit.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || install(&p).is_err() {
                libc::_exit(10);
            }
            let r = libc::syscall(libc::SYS_getppid);
            if r != -1 || *libc::__errno_location() != 38 {
                libc::_exit(11);
            }
            libc::syscall(x32_getpid);
            libc::_exit(12);
        }
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS,
        "child status {status:#x} (exit 10: install failed, 11: getppid not denied, 12: x32 call allowed)"
    );
}
