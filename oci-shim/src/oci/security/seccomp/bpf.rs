//! A tiny classic-BPF assembler for seccomp filters: instructions with
//! symbolic forward labels, resolved into relative jump offsets.
//!
//! A conditional jump reaches at most 255 instructions ahead; one whose
//! target is farther is rewritten into a conditional jump over two
//! unconditional `ja`s (32-bit offsets), so callers place code freely.

/// `seccomp_data` offsets.
pub(crate) const OFF_NR: u32 = 0;
pub(crate) const OFF_ARCH: u32 = 4;
/// Offset of the low 32 bits of argument `i` (little endian).
pub(crate) fn off_arg_lo(i: usize) -> u32 {
    16 + 8 * i as u32
}
/// Offset of the high 32 bits of argument `i`.
pub(crate) fn off_arg_hi(i: usize) -> u32 {
    off_arg_lo(i) + 4
}

const LD_W_ABS: u16 = 0x20;
const ALU_AND_K: u16 = 0x54;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JGE_K: u16 = 0x35;
const JMP_JA: u16 = 0x05;
const RET_K: u16 = 0x06;

/// A jump target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The next instruction.
    Next,
    /// A label placed later.
    Label(Label),
}

/// A position in the program, placed once with [`Asm::place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Label(u32);

/// A comparison with a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy)]
enum Ins {
    Load(u32),
    And(u32),
    Jump(Cmp, u32, Target, Target),
    Ret(u32),
}

/// The program under construction. Kept small: the launcher compiles a
/// profile at every create and exec, and its peak RSS counts.
#[derive(Debug, Default)]
pub(crate) struct Asm {
    ins: Vec<Ins>,
    /// Each label's instruction index in `ins` (`u32::MAX` until placed).
    places: Vec<u32>,
}

/// Errors of assembly: a jump farther than cBPF can encode.
#[derive(Debug, thiserror::Error)]
#[error("seccomp filter too large: {0}")]
pub(crate) struct AsmError(pub String);

impl Asm {
    /// A fresh label, to be placed with [`Asm::place`].
    pub(crate) fn label(&mut self) -> Label {
        self.places.push(u32::MAX);
        Label(self.places.len() as u32 - 1)
    }
    /// Places `label` at the current position.
    pub(crate) fn place(&mut self, label: Label) {
        self.places[label.0 as usize] = self.ins.len() as u32;
    }
    /// `A = seccomp_data[off]`.
    pub(crate) fn load(&mut self, off: u32) {
        self.ins.push(Ins::Load(off));
    }
    /// `A &= k`.
    pub(crate) fn and(&mut self, k: u32) {
        self.ins.push(Ins::And(k));
    }
    /// `if A <cmp> k goto t else goto f`.
    pub(crate) fn jump(&mut self, cmp: Cmp, k: u32, t: Target, f: Target) {
        self.ins.push(Ins::Jump(cmp, k, t, f));
    }
    /// `return k`.
    pub(crate) fn ret(&mut self, k: u32) {
        self.ins.push(Ins::Ret(k));
    }

    /// Resolves labels into the kernel's instruction format, widening the
    /// conditional jumps whose targets are out of reach until none is.
    pub(crate) fn finish(self) -> Result<Vec<libc::sock_filter>, AsmError> {
        if let Some(l) = self.places.iter().position(|p| *p == u32::MAX) {
            return Err(AsmError(format!("label {l} never placed")));
        }
        let mut wide = vec![false; self.ins.len()];
        // at[i]: where instruction i lands; at[len]: the end.
        let mut at = vec![0u32; self.ins.len() + 1];
        loop {
            let mut n = 0u32;
            for (i, ins) in self.ins.iter().enumerate() {
                at[i] = n;
                n += if matches!(ins, Ins::Jump(..)) && wide[i] {
                    3
                } else {
                    1
                };
            }
            at[self.ins.len()] = n;
            let mut widened = false;
            for (i, ins) in self.ins.iter().enumerate() {
                if let (Ins::Jump(_, _, t, f), false) = (ins, wide[i]) {
                    let far = |t: &Target| match t {
                        Target::Label(l) => {
                            at[self.places[l.0 as usize] as usize].saturating_sub(at[i] + 1) > 255
                        }
                        Target::Next => false,
                    };
                    if far(t) || far(f) {
                        wide[i] = true;
                        widened = true;
                    }
                }
            }
            if !widened {
                break;
            }
        }
        // The offset from the instruction at `from` to target `t`, where
        // `Next` is the instruction at `next`.
        let rel = |from: u32, t: &Target, next: u32| -> Result<u32, AsmError> {
            let to = match t {
                Target::Next => next,
                Target::Label(l) => at[self.places[l.0 as usize] as usize],
            };
            to.checked_sub(from + 1)
                .ok_or_else(|| AsmError(format!("backward jump to {t:?}")))
        };
        let short = |v: u32| {
            u8::try_from(v).map_err(|_| AsmError(format!("conditional jump of {v} instructions")))
        };
        let f = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
        let mut out = Vec::with_capacity(at[self.ins.len()] as usize);
        for (i, ins) in self.ins.iter().enumerate() {
            let here = at[i];
            match ins {
                Ins::Load(off) => out.push(f(LD_W_ABS, 0, 0, *off)),
                Ins::And(k) => out.push(f(ALU_AND_K, 0, 0, *k)),
                Ins::Ret(k) => out.push(f(RET_K, 0, 0, *k)),
                Ins::Jump(cmp, k, t, fl) => {
                    let code = match cmp {
                        Cmp::Eq => JMP_JEQ_K,
                        Cmp::Gt => JMP_JGT_K,
                        Cmp::Ge => JMP_JGE_K,
                    };
                    if wide[i] {
                        // if A <cmp> k { ja t } else { ja f }; `Next` is
                        // still the instruction after all three.
                        out.push(f(code, 0, 1, *k));
                        out.push(f(JMP_JA, 0, 0, rel(here + 1, t, here + 3)?));
                        out.push(f(JMP_JA, 0, 0, rel(here + 2, fl, here + 3)?));
                    } else {
                        let (jt, jf) = (rel(here, t, here + 1)?, rel(here, fl, here + 1)?);
                        out.push(f(code, short(jt)?, short(jf)?, *k));
                    }
                }
            }
        }
        Ok(out)
    }
}
