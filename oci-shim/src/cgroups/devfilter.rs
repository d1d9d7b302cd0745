//! cgroup v2 device rules as an eBPF program (`BPF_PROG_TYPE_CGROUP_DEVICE`),
//! generated here instruction by instruction, as runc's `devicefilter`.
//!
//! The kernel calls the program with `struct bpf_cgroup_dev_ctx { u32
//! access_type /* access << 16 | type */; u32 major; u32 minor; }` and
//! allows the access when it returns 1. The rules follow the v1 devices
//! controller's meaning: they are checked from the last to the first and
//! the first that matches decides; an allow rule matches when it grants
//! every requested access, a deny rule when it covers any of them; with
//! no match the access is allowed (a v1 cgroup starts allowing all, which
//! the usual leading `a *:* rwm` deny rule turns around).

use super::error::CgroupError;
use super::fs::unsupported;
use crate::spec::{LinuxDeviceCgroup, LinuxDeviceType};

/// One `struct bpf_insn`, as the kernel reads it (little endian).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Insn {
    code: u8,
    /// `dst_reg` in the low nibble, `src_reg` in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcode parts from include/uapi/linux/bpf_common.h and bpf.h.
const LDX_MEM_W: u8 = 0x01 | 0x60; // BPF_LDX | BPF_MEM | BPF_W
const ALU64: u8 = 0x07;
const AND: u8 = 0x50;
const RSH: u8 = 0x70;
const MOV: u8 = 0xb0;
const JMP: u8 = 0x05;
const JEQ: u8 = 0x10;
const JNE: u8 = 0x50;
const EXIT: u8 = 0x90;
const K: u8 = 0x00;
const X: u8 = 0x08;

// Registers: r0 result, r1 context, r2..r5 the unpacked context.
const R0: u8 = 0;
const R1: u8 = 1;
const R_TYPE: u8 = 2;
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;

// bpf_cgroup_dev_ctx values.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

fn load_u32(dst: u8, off: i16) -> Insn {
    insn(LDX_MEM_W, dst, R1, off, 0)
}

fn alu_imm(op: u8, dst: u8, imm: i32) -> Insn {
    insn(ALU64 | op | K, dst, 0, 0, imm)
}

fn mov_reg(dst: u8, src: u8) -> Insn {
    insn(ALU64 | MOV | X, dst, src, 0, 0)
}

fn jump_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    insn(JMP | op | K, dst, 0, off, imm)
}

fn jump_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
    insn(JMP | op | X, dst, src, off, 0)
}

fn exit() -> Insn {
    insn(JMP | EXIT, 0, 0, 0, 0)
}

/// The access bits of a rule (`rwm` when empty).
fn access_bits(access: &str) -> Result<i32, CgroupError> {
    if access.is_empty() {
        return Ok(ACC_MKNOD | ACC_READ | ACC_WRITE);
    }
    access.chars().try_fold(0, |acc, c| {
        Ok(acc
            | match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => {
                    return Err(unsupported(
                        "devices.access",
                        format!("{access:?} (only r, w, m)"),
                    ));
                }
            })
    })
}

/// A major or minor number to compare with, `None` for the wildcard.
fn number(v: Option<i64>, field: &str) -> Result<Option<i32>, CgroupError> {
    match v {
        None | Some(-1) => Ok(None),
        Some(n) => i32::try_from(n)
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| unsupported(field, format!("{n} is not a device number"))),
    }
}

/// The instructions of one rule: a test that jumps past the rule when it
/// does not match, then "return allow".
fn rule_block(rule: &LinuxDeviceCgroup) -> Result<Vec<Insn>, CgroupError> {
    let typ = match rule.typ.unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => None,
        LinuxDeviceType::B => Some(DEV_BLOCK),
        LinuxDeviceType::C | LinuxDeviceType::U => Some(DEV_CHAR),
        LinuxDeviceType::P => {
            return Err(unsupported(
                "devices.type",
                "p (fifos are not device-cgroup controlled)",
            ));
        }
    };
    let access = access_bits(rule.access.as_deref().unwrap_or(""))?;
    let major = number(rule.major, "devices.major")?;
    let minor = number(rule.minor, "devices.minor")?;
    // Tests first with a placeholder offset, patched once the length is known.
    let mut tests: Vec<Insn> = Vec::new();
    if let Some(t) = typ {
        tests.push(jump_imm(JNE, R_TYPE, t, 0));
    }
    let all = ACC_MKNOD | ACC_READ | ACC_WRITE;
    if rule.allow && access != all {
        // Every requested bit granted: (req & access) == req.
        tests.push(mov_reg(R1, R_ACCESS));
        tests.push(alu_imm(AND, R1, access));
        tests.push(jump_reg(JNE, R1, R_ACCESS, 0));
    } else if !rule.allow && access != all {
        // Any requested bit denied: (req & access) != 0.
        tests.push(mov_reg(R1, R_ACCESS));
        tests.push(alu_imm(AND, R1, access));
        tests.push(jump_imm(JEQ, R1, 0, 0));
    }
    if let Some(m) = major {
        tests.push(jump_imm(JNE, R_MAJOR, m, 0));
    }
    if let Some(m) = minor {
        tests.push(jump_imm(JNE, R_MINOR, m, 0));
    }
    let n = tests.len();
    for (i, t) in tests.iter_mut().enumerate() {
        if t.code & 0x07 == JMP && t.code != JMP | EXIT {
            // Past the rest of the tests and the two "return" instructions.
            t.off = i16::try_from(n - i - 1 + 2).unwrap_or(i16::MAX);
        }
    }
    tests.push(alu_imm(MOV, R0, i32::from(rule.allow)));
    tests.push(exit());
    Ok(tests)
}

/// The whole program for `rules` (in spec order).
pub(super) fn program(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>, CgroupError> {
    let mut prog = vec![
        load_u32(R_TYPE, 0),
        alu_imm(AND, R_TYPE, 0xffff),
        load_u32(R_ACCESS, 0),
        alu_imm(RSH, R_ACCESS, 16),
        load_u32(R_MAJOR, 4),
        load_u32(R_MINOR, 8),
    ];
    for rule in rules.iter().rev() {
        let block = rule_block(rule)?;
        let unconditional = block.len() == 2;
        prog.extend(block);
        if unconditional {
            // It matches every access: anything after it is unreachable,
            // which the verifier refuses.
            return Ok(prog);
        }
    }
    // No rule matched: allowed, as in a fresh v1 cgroup.
    prog.push(alu_imm(MOV, R0, 1));
    prog.push(exit());
    Ok(prog)
}

/// Runs `prog` on one access the way the kernel would, for the tests:
/// a tiny interpreter of exactly the instructions [`program`] emits.
#[cfg(test)]
pub(super) fn run(prog: &[Insn], typ: i32, access: i32, major: i32, minor: i32) -> i64 {
    let ctx = [((access << 16) | typ) as u32, major as u32, minor as u32];
    let mut r = [0i64; 11];
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
        pc += 1;
        match i.code {
            LDX_MEM_W => r[dst] = i64::from(ctx[(i.off / 4) as usize]),
            c if c == ALU64 | AND | K => r[dst] &= i64::from(i.imm),
            c if c == ALU64 | RSH | K => r[dst] = ((r[dst] as u64) >> i.imm) as i64,
            c if c == ALU64 | MOV | K => r[dst] = i64::from(i.imm),
            c if c == ALU64 | MOV | X => r[dst] = r[src],
            c if c == JMP | JNE | K && r[dst] != i64::from(i.imm) => pc += i.off as usize,
            c if c == JMP | JEQ | K && r[dst] == i64::from(i.imm) => pc += i.off as usize,
            c if c == JMP | JNE | X && r[dst] != r[src] => pc += i.off as usize,
            c if c == JMP | EXIT => return r[0],
            c if c & 0x07 == JMP => {}
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(v: serde_json::Value) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_value(v).unwrap()
    }

    const RW: i32 = ACC_READ | ACC_WRITE;

    #[test]
    fn instructions_encode_as_the_kernel_reads_them() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        // r2 = *(u32 *)(r1 + 0): code 0x61, dst 2, src 1.
        assert_eq!(
            load_u32(R_TYPE, 0),
            Insn {
                code: 0x61,
                regs: 0x12,
                off: 0,
                imm: 0
            }
        );
        assert_eq!(exit().code, 0x95);
        assert_eq!(jump_reg(JNE, R1, R_ACCESS, 3).code, 0x5d);
    }

    #[test]
    fn deny_all_then_allows_lets_only_the_listed_devices_through() {
        let p = program(&rules(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rw"},
            {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"}
        ])))
        .unwrap();
        assert_eq!(run(&p, DEV_CHAR, RW, 1, 3), 1, "/dev/null");
        assert_eq!(run(&p, DEV_CHAR, ACC_MKNOD, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, RW, 1, 5), 0, "/dev/zero");
        assert_eq!(run(&p, DEV_CHAR, RW, 136, 7), 1, "any pty");
        assert_eq!(run(&p, DEV_CHAR, ACC_MKNOD, 136, 7), 0, "no mknod of ptys");
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ, 8, 0), 1);
        assert_eq!(run(&p, DEV_BLOCK, RW, 8, 0), 0, "read-only block device");
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ, 1, 3), 0, "type matters");
    }

    #[test]
    fn a_later_deny_wins_over_an_earlier_allow_and_covers_any_bit() {
        let p = program(&rules(serde_json::json!([
            {"allow": true, "access": "rwm"},
            {"allow": false, "type": "c", "major": 10, "minor": 200, "access": "w"}
        ])))
        .unwrap();
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 10, 200), 1);
        assert_eq!(run(&p, DEV_CHAR, RW, 10, 200), 0, "w is denied within rw");
        assert_eq!(run(&p, DEV_CHAR, RW, 10, 229), 1);
    }

    #[test]
    fn nothing_follows_a_rule_that_matches_everything() {
        let p = program(&rules(serde_json::json!([
            {"allow": true, "type": "c", "major": 1, "minor": 3},
            {"allow": false, "access": "rwm"}
        ])))
        .unwrap();
        assert_eq!(p.len(), 6 + 2, "prologue and the deny-all return only");
        assert_eq!(run(&p, DEV_CHAR, RW, 1, 3), 0, "the later deny-all wins");
    }

    #[test]
    fn no_rules_allow_everything_and_bad_rules_are_refused() {
        assert_eq!(run(&program(&[]).unwrap(), DEV_CHAR, RW, 1, 5), 1);
        let bad = rules(serde_json::json!([{"allow": true, "access": "rwx"}]));
        assert!(
            program(&bad)
                .unwrap_err()
                .to_string()
                .contains("devices.access")
        );
    }
}
