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

use super::arch::{Arch, X32_SYSCALL_BIT};
use super::args;
use super::bpf::{self, Asm, AsmError, Cmp, Label, Target};
use crate::spec::{LinuxSeccompArg, LinuxSeccompOperator};

/// One profile rule, its action already encoded.
pub(super) struct Rule<'a> {
    pub names: &'a [String],
    pub args: &'a [LinuxSeccompArg],
    pub action: u32,
}

/// A rule resolved on one architecture: small, as there is one per
/// syscall name, rule and architecture.
#[derive(Clone, Copy)]
struct Resolved {
    nr: u32,
    /// Index in the profile's rules.
    rule: u32,
    /// For i386's socketcall/ipc form: the call number (1 to 24) that the
    /// first argument must hold, which replaces the rule's conditions on it
    /// (as libseccomp does); 0 otherwise.
    mux_call: u8,
    only_low: bool,
    conditional: bool,
}

/// What a segment of syscall numbers gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ret(u32),
    /// The rules `resolved[start..end]` of one syscall, which have
    /// argument conditions.
    Rules(u32, u32),
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
    let labels: Vec<Label> = sections.iter().map(|_| asm.label()).collect();
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
fn section(asm: &mut Asm, members: &[Arch], rules: &[Rule<'_>], default: u32, bad: Label) {
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
    let resolved = resolve(members, rules);
    let segments = segments(&resolved, rules, default);
    let cx = Search {
        rules,
        resolved: &resolved,
        default,
    };
    cx.emit(asm, &segments);
}

/// The rules of each syscall number, sorted by number, conditional ones
/// first, each group in profile order.
fn resolve(members: &[Arch], rules: &[Rule<'_>]) -> Vec<Resolved> {
    // Sized up front: no copy of a half-grown vector in the peak RSS.
    let names: usize = rules.iter().map(|r| r.names.len()).sum();
    let mut all = Vec::with_capacity(names * members.len());
    for (i, rule) in rules.iter().enumerate() {
        let conditional = !rule.args.is_empty();
        for name in rule.names {
            for &arch in members {
                let only_low = arch.args_32bit();
                let mut push = |nr, mux_call: u8| {
                    all.push(Resolved {
                        nr,
                        rule: i as u32,
                        mux_call,
                        only_low,
                        conditional: conditional || mux_call != 0,
                    })
                };
                if let Some(nr) = arch.syscall(name) {
                    push(nr, 0);
                }
                if let Some((nr, call)) = arch.multiplexed(name) {
                    push(nr, call);
                }
            }
        }
    }
    // Profile order within each group; unstable sorts allocate nothing.
    all.sort_unstable_by_key(|r| (r.nr, !r.conditional, r.rule));
    all
}

/// The whole number space cut into segments `(first number, outcome)`,
/// neighbours with the same outcome merged.
fn segments(resolved: &[Resolved], rules: &[Rule<'_>], default: u32) -> Vec<(u32, Outcome)> {
    let mut out: Vec<(u32, Outcome)> = Vec::new();
    let mut push = |lo: u32, o: Outcome| {
        if out.last().is_none_or(|(_, last)| *last != o) {
            out.push((lo, o));
        }
    };
    let mut next = Some(0u32);
    let mut start = 0;
    while let Some(first) = resolved.get(start) {
        let nr = first.nr;
        let end = start + resolved[start..].iter().take_while(|r| r.nr == nr).count();
        if let Some(n) = next.filter(|n| *n < nr) {
            push(n, Outcome::Ret(default));
        }
        push(
            nr,
            if first.conditional {
                Outcome::Rules(start as u32, end as u32)
            } else {
                // Unconditional rules only: the first in profile order wins.
                Outcome::Ret(rules[first.rule as usize].action)
            },
        );
        next = nr.checked_add(1);
        start = end;
    }
    if let Some(n) = next {
        push(n, Outcome::Ret(default));
    }
    out
}

/// What the search's leaves need.
struct Search<'a, 'r> {
    rules: &'a [Rule<'r>],
    resolved: &'a [Resolved],
    default: u32,
}

impl Search<'_, '_> {
    /// Binary search over `segs` (A holds the syscall number): each node
    /// jumps right when A >= the right half's first number.
    fn emit(&self, asm: &mut Asm, segs: &[(u32, Outcome)]) {
        match segs {
            [] => asm.ret(self.default),
            [(_, Outcome::Ret(k))] => asm.ret(*k),
            [(_, Outcome::Rules(start, end))] => {
                self.rules_of_one_syscall(asm, &self.resolved[*start as usize..*end as usize]);
            }
            _ => {
                let mid = segs.len() / 2;
                let right = asm.label();
                asm.jump(Cmp::Ge, segs[mid].0, Target::Label(right), Target::Next);
                self.emit(asm, &segs[..mid]);
                asm.place(right);
                self.emit(asm, &segs[mid..]);
            }
        }
    }

    /// Each rule in turn (its conditions, then its action), then the default.
    fn rules_of_one_syscall(&self, asm: &mut Asm, group: &[Resolved]) {
        for r in group {
            let rule = &self.rules[r.rule as usize];
            if !r.conditional {
                // Unconditional: the rules after it can never match.
                asm.ret(rule.action);
                return;
            }
            let next = asm.label();
            let on_first_arg: LinuxSeccompArg;
            let conditions: &mut dyn Iterator<Item = &LinuxSeccompArg> = match r.mux_call {
                call @ 1.. => {
                    on_first_arg = LinuxSeccompArg {
                        index: 0,
                        value: u64::from(call),
                        value_two: None,
                        op: LinuxSeccompOperator::ScmpCmpEq,
                    };
                    &mut std::iter::once(&on_first_arg)
                        .chain(rule.args.iter().filter(|a| a.index != 0))
                }
                0 => &mut rule.args.iter(),
            };
            for a in conditions {
                args::emit(asm, a, next, r.only_low);
            }
            asm.ret(rule.action);
            asm.place(next);
        }
        asm.ret(self.default);
    }
}
