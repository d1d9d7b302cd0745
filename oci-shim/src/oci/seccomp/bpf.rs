//! A tiny classic-BPF assembler for seccomp filters: instructions with
//! symbolic forward labels, resolved into relative jump offsets.

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

    /// Resolves labels into the kernel's instruction format.
    pub(crate) fn finish(self) -> Result<Vec<libc::sock_filter>, AsmError> {
        let mut pos = std::collections::HashMap::new();
        let mut n = 0usize;
        for i in &self.ins {
            match i {
                Ins::Place(l) => {
                    pos.insert(*l, n);
                }
                _ => n += 1,
            }
        }
        let mut out = Vec::with_capacity(n);
        for i in &self.ins {
            let here = out.len();
            let rel = |t: &Target| -> Result<u32, AsmError> {
                match t {
                    Target::Next => Ok(0),
                    Target::Label(l) => {
                        let at = *pos
                            .get(l)
                            .ok_or_else(|| AsmError(format!("label {l} never placed")))?;
                        at.checked_sub(here + 1)
                            .map(|d| d as u32)
                            .ok_or_else(|| AsmError(format!("backward jump to label {l}")))
                    }
                }
            };
            let f = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
            match i {
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
                    let short = |v: u32| {
                        u8::try_from(v)
                            .map_err(|_| AsmError(format!("conditional jump of {v} instructions")))
                    };
                    out.push(f(code, short(rel(t)?)?, short(rel(fl)?)?, *k));
                }
            }
        }
        Ok(out)
    }
}

/// Runs a filter over `(nr, arch, args)`: the subset of cBPF that [`Asm`]
/// emits, so tests can check compiled profiles without installing them.
#[cfg(test)]
pub(crate) fn run(prog: &[libc::sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let word = |off: u32| -> u32 {
        match off {
            OFF_NR => nr,
            OFF_ARCH => arch,
            o if o >= 16 => {
                let i = ((o - 16) / 8) as usize;
                if (o - 16) % 8 == 0 {
                    args[i] as u32
                } else {
                    (args[i] >> 32) as u32
                }
            }
            _ => 0,
        }
    };
    let (mut a, mut pc) = (0u32, 0usize);
    loop {
        let i = prog[pc];
        pc += 1;
        match i.code {
            LD_W_ABS => a = word(i.k),
            ALU_AND_K => a &= i.k,
            RET_K => return i.k,
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K => {
                let hit = match i.code {
                    JMP_JEQ_K => a == i.k,
                    JMP_JGT_K => a > i.k,
                    _ => a >= i.k,
                };
                pc += if hit { i.jt } else { i.jf } as usize;
            }
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}
