//! A user-space classic-BPF interpreter over a synthetic `seccomp_data`,
//! written from the kernel's instruction set (linux/filter.h, and the
//! checks of seccomp_check_filter/bpf_check_classic), independent of the
//! assembler, so tests run compiled filters without installing them.

/// The 64-byte `seccomp_data` the kernel hands a filter.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SeccompData {
    pub nr: u32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    pub(crate) fn new(arch: u32, nr: u32, args: [u64; 6]) -> Self {
        Self {
            nr,
            arch,
            ip: 0,
            args,
        }
    }

    fn bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..4].copy_from_slice(&self.nr.to_le_bytes());
        b[4..8].copy_from_slice(&self.arch.to_le_bytes());
        b[8..16].copy_from_slice(&self.ip.to_le_bytes());
        for (i, a) in self.args.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        b
    }
}

/// Checks `prog` as the kernel would at load (length, forward jumps in
/// range, ends in a return, word loads of seccomp_data only), then runs it.
pub(crate) fn run(prog: &[libc::sock_filter], data: &SeccompData) -> u32 {
    run_counted(prog, data).0
}

/// [`run`], also saying how many instructions ran.
pub(crate) fn run_counted(prog: &[libc::sock_filter], data: &SeccompData) -> (u32, usize) {
    assert!(
        !prog.is_empty() && prog.len() <= 4096,
        "{} instructions",
        prog.len()
    );
    let last = prog[prog.len() - 1].code;
    assert!(
        last == 0x06 || last == 0x16,
        "program does not end in a return"
    );
    let bytes = data.bytes();
    let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
    for steps in 1.. {
        let i = prog[pc];
        pc += 1;
        let (class, k) = (i.code & 0x07, i.k);
        let src = if i.code & 0x08 != 0 { x } else { k };
        match class {
            0x00 | 0x01 => {
                // LD / LDX
                let v = match i.code & 0xe0 {
                    0x00 => k, // IMM
                    0x20 => {
                        // ABS: seccomp allows 32-bit aligned word loads only
                        assert_eq!(i.code & 0x18, 0x00, "non-word load {:#x}", i.code);
                        assert!(k % 4 == 0 && k < 64, "load of offset {k}");
                        let o = k as usize;
                        u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]])
                    }
                    0x60 => mem[k as usize], // MEM
                    0x80 => 64,              // LEN
                    m => panic!("load mode {m:#x}"),
                };
                if class == 0x00 { a = v } else { x = v }
            }
            0x02 => mem[k as usize] = a, // ST
            0x03 => mem[k as usize] = x, // STX
            0x04 => {
                a = match i.code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 => a.checked_div(src).expect("division by zero"),
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.checked_shl(src).unwrap_or(0),
                    0x70 => a.checked_shr(src).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(src).expect("modulo by zero"),
                    0xa0 => a ^ src,
                    op => panic!("alu op {op:#x}"),
                }
            }
            0x05 => {
                let off = match i.code & 0xf0 {
                    0x00 => k as usize, // JA
                    op => {
                        let hit = match op {
                            0x10 => a == src,
                            0x20 => a > src,
                            0x30 => a >= src,
                            0x40 => a & src != 0,
                            _ => panic!("jump op {op:#x}"),
                        };
                        usize::from(if hit { i.jt } else { i.jf })
                    }
                };
                pc += off;
                assert!(pc < prog.len(), "jump out of the program");
            }
            0x06 => return (if i.code & 0x18 == 0x10 { a } else { k }, steps),
            0x07 => {
                if i.code & 0xf8 == 0x00 { x = a } else { a = x } // TAX / TXA
            }
            _ => unreachable!(),
        }
    }
    unreachable!("jumps only go forward")
}
