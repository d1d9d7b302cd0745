//! Argument conditions (`SCMP_CMP_*`) in classic BPF, which compares 32-bit
//! words: a 64-bit argument is checked high word first, then low word.
//! On 32-bit ABIs only the low word is compared, as libseccomp does.

use super::bpf::{self, Asm, Cmp, Label, Target};
use crate::spec::{LinuxSeccompArg, LinuxSeccompOperator};

/// Emits one condition: falls through when it holds, jumps to `fail`
/// otherwise. Clobbers the accumulator.
pub(super) fn emit(asm: &mut Asm, arg: &LinuxSeccompArg, fail: Label, only_low: bool) {
    let i = arg.index;
    let (v, two) = (arg.value, arg.value_two.unwrap_or(0));
    let (vhi, vlo) = ((v >> 32) as u32, v as u32);
    let fail = Target::Label(fail);
    let op = arg.op;
    if only_low {
        emit_low(asm, op, i, vlo, two as u32, fail);
        return;
    }
    match op {
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
            asm.load(bpf::off_arg_hi(i));
            asm.and(vhi);
            asm.jump(Cmp::Eq, (two >> 32) as u32, Target::Next, fail);
            asm.load(bpf::off_arg_lo(i));
            asm.and(vlo);
            asm.jump(Cmp::Eq, two as u32, Target::Next, fail);
        }
        LinuxSeccompOperator::ScmpCmpGt | LinuxSeccompOperator::ScmpCmpGe => {
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
        LinuxSeccompOperator::ScmpCmpLt | LinuxSeccompOperator::ScmpCmpLe => {
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

/// The low word only, with the value truncated to it.
fn emit_low(asm: &mut Asm, op: LinuxSeccompOperator, i: usize, v: u32, two: u32, fail: Target) {
    asm.load(bpf::off_arg_lo(i));
    let (cmp, holds_when_true) = match op {
        LinuxSeccompOperator::ScmpCmpEq => (Cmp::Eq, true),
        LinuxSeccompOperator::ScmpCmpNe => (Cmp::Eq, false),
        LinuxSeccompOperator::ScmpCmpGt => (Cmp::Gt, true),
        LinuxSeccompOperator::ScmpCmpGe => (Cmp::Ge, true),
        LinuxSeccompOperator::ScmpCmpLt => (Cmp::Ge, false),
        LinuxSeccompOperator::ScmpCmpLe => (Cmp::Gt, false),
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            asm.and(v);
            asm.jump(Cmp::Eq, two, Target::Next, fail);
            return;
        }
    };
    if holds_when_true {
        asm.jump(cmp, v, Target::Next, fail);
    } else {
        asm.jump(cmp, v, fail, Target::Next);
    }
}
