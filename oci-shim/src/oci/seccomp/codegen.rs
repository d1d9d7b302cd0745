//! The filter's shape, as libseccomp builds it:
//!
//! ```text
//! load arch
//! arch == native?  → native section      (one check per section)
//! arch == other?   → other section
//! return bad-arch action
//! section: load nr
//!   [x86_64 without x32: nr >= 0x40000000 → bad arch (nr == -1 → default)]
//!   [x32 without x86_64: nr <  0x40000000 → bad arch]
//!   binary search over the syscall numbers' segments:
//!     a run of numbers with one unconditional action → return it
//!     a gap → return the default action
//!     a syscall with argument conditions → its rules, in order, then default
//! ```
//!
//! x86_64 and x32 share `AUDIT_ARCH_X86_64`; their numbers are disjoint
//! (x32's carry bit 30), so when both are listed they share one section and
//! one search. A long allow-list is mostly runs of neighbouring numbers
//! with one action, so the search has far fewer leaves than rules: the
//! RuntimeDefault profile stays well under the kernel's 4096 instructions
//! with three architectures, and a syscall costs O(log rules) jumps.

use std::collections::BTreeMap;

use super::arch::{Arch, X32_SYSCALL_BIT};
use super::args;
use super::bpf::{self, Asm, AsmError, Cmp, Target};
use crate::spec::{LinuxSeccompArg, LinuxSeccompOperator};

/// One profile rule, its action already encoded.
pub(super) struct Rule<'a> {
    pub names: &'a [String],
    pub args: &'a [LinuxSeccompArg],
    pub action: u32,
}

/// A rule resolved on one architecture.
struct Resolved {
    nr: u32,
    args: Vec<LinuxSeccompArg>,
    action: u32,
    only_low: bool,
}

/// What a segment of syscall numbers gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ret(u32),
    /// The rules of this syscall, which have argument conditions.
    Rules(u32),
}

/// Compiles `rules` for `arches` (the native one first; all of them
/// deduplicated). Rules whose action is the default must have been dropped.
pub(super) fn generate(
    arches: &[Arch],
    rules: &[Rule<'_>],
    default: u32,
    bad_arch: u32,
) -> Result<Vec<libc::sock_filter>, AsmError> {
    // Sections by AUDIT_ARCH, in the order of their first architecture.
    let mut sections: Vec<(u32, Vec<Arch>)> = Vec::new();
    for &a in arches {
        match sections.iter_mut().find(|(audit, _)| *audit == a.audit()) {
            Some((_, v)) => v.push(a),
            None => sections.push((a.audit(), vec![a])),
        }
    }
    let mut asm = Asm::default();
    let bad = asm.label();
    let labels: Vec<usize> = sections.iter().map(|_| asm.label()).collect();
    asm.load(bpf::OFF_ARCH);
    for ((audit, _), &l) in sections.iter().zip(&labels) {
        asm.jump(Cmp::Eq, *audit, Target::Label(l), Target::Next);
    }
    asm.ret(bad_arch);
    for ((_, members), &l) in sections.iter().zip(&labels) {
        asm.place(l);
        section(&mut asm, members, rules, default, bad);
    }
    // Jumps only go forward: the sections' own bad-architecture exit.
    asm.place(bad);
    asm.ret(bad_arch);
    asm.finish()
}

/// One architecture's section (or x86_64's and x32's together).
fn section(asm: &mut Asm, members: &[Arch], rules: &[Rule<'_>], default: u32, bad: usize) {
    asm.load(bpf::OFF_NR);
    let (x86_64, x32) = (
        members.contains(&Arch::X86_64),
        members.contains(&Arch::X32),
    );
    if x86_64 && !x32 {
        // An x32 number never matches an x86_64 rule nor falls through to
        // the default: it is a bad architecture, as in libseccomp. -1 is
        // the "skip this syscall" a tracer may set: the default.
        let native = asm.label();
        asm.jump(
            Cmp::Ge,
            X32_SYSCALL_BIT,
            Target::Next,
            Target::Label(native),
        );
        asm.jump(Cmp::Eq, u32::MAX, Target::Next, Target::Label(bad));
        asm.ret(default);
        asm.place(native);
    } else if x32 && !x86_64 {
        asm.jump(Cmp::Ge, X32_SYSCALL_BIT, Target::Next, Target::Label(bad));
    }
    let by_nr = resolve(members, rules);
    let segments = segments(&by_nr, default);
    search(asm, &segments, &by_nr, default);
}

/// The rules of each syscall number, conditional ones first, each group in
/// profile order.
fn resolve(members: &[Arch], rules: &[Rule<'_>]) -> BTreeMap<u32, Vec<Resolved>> {
    let mut all = Vec::new();
    for rule in rules {
        for name in rule.names {
            for &arch in members {
                let only_low = arch.args_32bit();
                if let Some(nr) = arch.syscall(name) {
                    all.push(Resolved {
                        nr,
                        args: rule.args.to_vec(),
                        action: rule.action,
                        only_low,
                    });
                }
                if let Some((nr, call)) = arch.multiplexed(name) {
                    // As libseccomp: the call number replaces a condition
                    // on the first argument; the others are kept.
                    let mut args: Vec<_> =
                        rule.args.iter().filter(|a| a.index != 0).copied().collect();
                    args.insert(
                        0,
                        LinuxSeccompArg {
                            index: 0,
                            value: call,
                            value_two: None,
                            op: LinuxSeccompOperator::ScmpCmpEq,
                        },
                    );
                    all.push(Resolved {
                        nr,
                        args,
                        action: rule.action,
                        only_low,
                    });
                }
            }
        }
    }
    all.sort_by_key(|r| r.args.is_empty());
    let mut by_nr: BTreeMap<u32, Vec<Resolved>> = BTreeMap::new();
    for r in all {
        by_nr.entry(r.nr).or_default().push(r);
    }
    by_nr
}

/// The whole number space cut into segments `(first number, outcome)`,
/// neighbours with the same outcome merged.
fn segments(by_nr: &BTreeMap<u32, Vec<Resolved>>, default: u32) -> Vec<(u32, Outcome)> {
    let mut out: Vec<(u32, Outcome)> = Vec::new();
    let mut push = |lo: u32, o: Outcome| {
        if out
            .last()
            .is_none_or(|(_, last)| *last != o || matches!(o, Outcome::Rules(_)))
        {
            out.push((lo, o));
        }
    };
    let mut next = Some(0u32);
    for (&nr, group) in by_nr {
        if next.is_some_and(|n| n < nr) {
            push(next.unwrap_or(0), Outcome::Ret(default));
        }
        let o = match group.first() {
            Some(r) if r.args.is_empty() => Outcome::Ret(r.action),
            _ => Outcome::Rules(nr),
        };
        push(nr, o);
        next = nr.checked_add(1);
    }
    if let Some(n) = next {
        push(n, Outcome::Ret(default));
    }
    out
}

/// Binary search over `segs` (A holds the syscall number): each node
/// jumps right when A >= the right half's first number.
fn search(
    asm: &mut Asm,
    segs: &[(u32, Outcome)],
    by_nr: &BTreeMap<u32, Vec<Resolved>>,
    default: u32,
) {
    match segs {
        [] => asm.ret(default),
        [(_, Outcome::Ret(k))] => asm.ret(*k),
        [(_, Outcome::Rules(nr))] => {
            for r in by_nr.get(nr).map(Vec::as_slice).unwrap_or(&[]) {
                if r.args.is_empty() {
                    // Unconditional: the rules after it can never match.
                    asm.ret(r.action);
                    return;
                }
                let next = asm.label();
                for a in &r.args {
                    args::emit(asm, a, next, r.only_low);
                }
                asm.ret(r.action);
                asm.place(next);
            }
            asm.ret(default);
        }
        _ => {
            let mid = segs.len() / 2;
            let right = asm.label();
            asm.jump(Cmp::Ge, segs[mid].0, Target::Label(right), Target::Next);
            search(asm, &segs[..mid], by_nr, default);
            asm.place(right);
            search(asm, &segs[mid..], by_nr, default);
        }
    }
}
