//! The architectures a profile can name, how the kernel reports each in
//! `seccomp_data.arch`, and their syscall numbers.
//!
//! x32 shares x86_64's `AUDIT_ARCH_X86_64` and tells itself apart only by
//! the `__X32_SYSCALL_BIT` in the syscall number, so the two are compiled
//! into one section (see [`super::codegen`]).

use super::syscalls;

/// `__X32_SYSCALL_BIT`: set in every x32 syscall number.
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// An architecture with a syscall table here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Arch {
    X86_64,
    X32,
    X86,
    Aarch64,
    Arm,
}

/// How a profile's `architectures` entry reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listed {
    /// One this compiler has a table for.
    Known(Arch),
    /// A libseccomp architecture without a table here (MIPS, PPC, s390...).
    /// This kernel never reports it unless it is the native one, so its
    /// syscalls can only reach the filter's bad-architecture action.
    Foreign,
}

impl Listed {
    /// Parses an `SCMP_ARCH_*` name; `None` for a name libseccomp does not
    /// know either.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "SCMP_ARCH_X86_64" => Self::Known(Arch::X86_64),
            "SCMP_ARCH_X32" => Self::Known(Arch::X32),
            "SCMP_ARCH_X86" => Self::Known(Arch::X86),
            "SCMP_ARCH_AARCH64" => Self::Known(Arch::Aarch64),
            "SCMP_ARCH_ARM" => Self::Known(Arch::Arm),
            "SCMP_ARCH_MIPS"
            | "SCMP_ARCH_MIPS64"
            | "SCMP_ARCH_MIPS64N32"
            | "SCMP_ARCH_MIPSEL"
            | "SCMP_ARCH_MIPSEL64"
            | "SCMP_ARCH_MIPSEL64N32"
            | "SCMP_ARCH_PPC"
            | "SCMP_ARCH_PPC64"
            | "SCMP_ARCH_PPC64LE"
            | "SCMP_ARCH_S390"
            | "SCMP_ARCH_S390X"
            | "SCMP_ARCH_PARISC"
            | "SCMP_ARCH_PARISC64"
            | "SCMP_ARCH_RISCV64"
            | "SCMP_ARCH_LOONGARCH64"
            | "SCMP_ARCH_M68K"
            | "SCMP_ARCH_SH"
            | "SCMP_ARCH_SHEB" => Self::Foreign,
            _ => return None,
        })
    }
}

/// The architecture of this build: the one libseccomp always adds to a
/// filter, listed or not.
pub(crate) const NATIVE: Option<Arch> = if cfg!(target_arch = "x86_64") {
    Some(Arch::X86_64)
} else if cfg!(target_arch = "aarch64") {
    Some(Arch::Aarch64)
} else if cfg!(target_arch = "x86") {
    Some(Arch::X86)
} else if cfg!(target_arch = "arm") {
    Some(Arch::Arm)
} else {
    None
};

impl Arch {
    /// Its `AUDIT_ARCH_*`, as the kernel puts it in `seccomp_data.arch`.
    pub(crate) fn audit(self) -> u32 {
        match self {
            Self::X86_64 | Self::X32 => 0xc000_003e,
            Self::X86 => 0x4000_0003,
            Self::Aarch64 => 0xc000_00b7,
            Self::Arm => 0x4000_0028,
        }
    }

    /// Whether its syscall arguments are 32 bits wide: libseccomp compares
    /// only their low words there, and so does this compiler.
    pub(crate) fn args_32bit(self) -> bool {
        matches!(self, Self::X32 | Self::X86 | Self::Arm)
    }

    fn table(self) -> &'static [u16] {
        match self {
            Self::X86_64 => &syscalls::X86_64,
            Self::X32 => &syscalls::X32,
            Self::X86 => &syscalls::X86,
            Self::Aarch64 => &syscalls::AARCH64,
            Self::Arm => &syscalls::ARM,
        }
    }

    /// The number `seccomp_data.nr` holds for syscall `name`, if this
    /// architecture has it.
    pub(crate) fn syscall(self, name: &str) -> Option<u32> {
        let n = self.table()[name_index(name)?];
        match n {
            syscalls::NONE => None,
            n if self == Self::Arm && n >= syscalls::ARM_PRIVATE_CODE => {
                Some(syscalls::ARM_PRIVATE_BASE + u32::from(n - syscalls::ARM_PRIVATE_CODE))
            }
            n if self == Self::X32 => Some(u32::from(n) | X32_SYSCALL_BIT),
            n => Some(u32::from(n)),
        }
    }

    /// Where a socket or SysV IPC syscall is also reachable through a
    /// multiplexer (`socketcall`/`ipc` on i386): that syscall's number and
    /// the call number its first argument carries. libseccomp adds a rule
    /// for that form too, or a deny-list would be bypassed through it.
    pub(crate) fn multiplexed(self, name: &str) -> Option<(u32, u8)> {
        let (mux, call) = if let Some(i) = SOCKETCALLS.iter().position(|n| *n == name) {
            ("socketcall", i as u8 + 1)
        } else {
            let call = IPC_CALLS.iter().find(|(n, _)| *n == name)?.1;
            ("ipc", call)
        };
        Some((self.syscall(mux)?, call))
    }
}

/// `socketcall(2)`'s calls, SYS_SOCKET (1) first (linux/net.h).
const SOCKETCALLS: [&str; 20] = [
    "socket",
    "bind",
    "connect",
    "listen",
    "accept",
    "getsockname",
    "getpeername",
    "socketpair",
    "send",
    "recv",
    "sendto",
    "recvfrom",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "sendmsg",
    "recvmsg",
    "accept4",
    "recvmmsg",
    "sendmmsg",
];

/// `ipc(2)`'s calls (linux/ipc.h).
const IPC_CALLS: [(&str, u8); 12] = [
    ("semop", 1),
    ("semget", 2),
    ("semctl", 3),
    ("semtimedop", 4),
    ("msgsnd", 11),
    ("msgrcv", 12),
    ("msgget", 13),
    ("msgctl", 14),
    ("shmat", 21),
    ("shmdt", 22),
    ("shmget", 23),
    ("shmctl", 24),
];

/// Binary search of the generated, byte-sorted name list.
fn name_index(name: &str) -> Option<usize> {
    let name_at = |i: usize| {
        let (a, b) = (syscalls::OFFSETS[i], syscalls::OFFSETS[i + 1]);
        &syscalls::NAMES[usize::from(a)..usize::from(b)]
    };
    let (mut lo, mut hi) = (0, syscalls::OFFSETS.len() - 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match name_at(mid).cmp(name) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

/// Every name in the tables, for tests.
#[cfg(test)]
pub(crate) fn all_names() -> impl Iterator<Item = &'static str> {
    (0..syscalls::OFFSETS.len() - 1).map(|i| {
        let (a, b) = (syscalls::OFFSETS[i], syscalls::OFFSETS[i + 1]);
        &syscalls::NAMES[usize::from(a)..usize::from(b)]
    })
}
