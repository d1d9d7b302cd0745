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
    Label(usize),
}

/// A comparison with a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
enum Ins {
    Load(u32),
    And(u32),
    Jump(Cmp, u32, Target, Target),
    Ret(u32),
    Place(usize),
}

/// The program under construction.
#[derive(Debug, Default)]
pub(crate) struct Asm {
    ins: Vec<Ins>,
    labels: usize,
}

/// Errors of assembly: a jump farther than cBPF can encode.
#[derive(Debug, thiserror::Error)]
#[error("seccomp filter too large: {0}")]
pub(crate) struct AsmError(pub String);

impl Asm {
    /// A fresh label, to be placed with [`Asm::place`].
    pub(crate) fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels
    }
    /// Places `label` at the current position.
    pub(crate) fn place(&mut self, label: usize) {
        self.ins.push(Ins::Place(label));
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
        let mut wide = vec![false; self.ins.len()];
        let (at, pos) = loop {
            let (at, pos) = self.layout(&wide);
            let mut widened = false;
            for (i, ins) in self.ins.iter().enumerate() {
                if let (Ins::Jump(_, _, t, f), false) = (ins, wide[i]) {
                    let far = |t: &Target| match t {
                        Target::Label(l) => pos
                            .get(l)
                            .is_some_and(|p| p.saturating_sub(at[i] + 1) > 255),
                        Target::Next => false,
                    };
                    if far(t) || far(f) {
                        wide[i] = true;
                        widened = true;
                    }
                }
            }
            if !widened {
                break (at, pos);
            }
        };
        // The offset from the instruction at `from` to target `t`, where
        // `Next` is the instruction at `next`.
        let rel = |from: usize, t: &Target, next: usize| -> Result<u32, AsmError> {
            let to = match t {
                Target::Next => next,
                Target::Label(l) => *pos
                    .get(l)
                    .ok_or_else(|| AsmError(format!("label {l} never placed")))?,
            };
            let d = to
                .checked_sub(from + 1)
                .ok_or_else(|| AsmError(format!("backward jump to {t:?}")))?;
            u32::try_from(d).map_err(|_| AsmError(format!("jump of {d} instructions")))
        };
        let short = |v: u32| {
            u8::try_from(v).map_err(|_| AsmError(format!("conditional jump of {v} instructions")))
        };
        let f = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
        let mut out = Vec::with_capacity(at.last().copied().unwrap_or(0) + 3);
        for (i, ins) in self.ins.iter().enumerate() {
            let here = out.len();
            match ins {
                Ins::Place(_) => {}
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
                        // if A <cmp> k { ja t } else { ja f }
                        // `Next` is still the instruction after all three.
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

    /// Where each instruction starts and where each label is, with the
    /// jumps marked in `wide` taking three instructions.
    fn layout(&self, wide: &[bool]) -> (Vec<usize>, std::collections::HashMap<usize, usize>) {
        let mut pos = std::collections::HashMap::new();
        let mut at = Vec::with_capacity(self.ins.len());
        let mut n = 0usize;
        for (i, ins) in self.ins.iter().enumerate() {
            at.push(n);
            match ins {
                Ins::Place(l) => {
                    pos.insert(*l, n);
                }
                Ins::Jump(..) if wide[i] => n += 3,
                _ => n += 1,
            }
        }
        (at, pos)
    }
}
