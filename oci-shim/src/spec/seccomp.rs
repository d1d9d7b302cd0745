//! `linux.seccomp`: the profile compiled by `oci::security::seccomp`.

use std::path::PathBuf;

use serde::Deserialize;

/// A seccomp profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxSeccomp {
    /// What a syscall no rule matches gets (required).
    pub default_action: LinuxSeccompAction,
    /// The errno of a default `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE`.
    pub default_errno_ret: Option<u32>,
    /// `SCMP_ARCH_*` names of the architectures to filter besides the
    /// native one.
    pub architectures: Option<Vec<String>>,
    /// seccomp(2) filter flags.
    pub flags: Option<Vec<LinuxSeccompFilterFlag>>,
    /// A notify listener: parsed so that it can be refused.
    pub listener_path: Option<PathBuf>,
    /// The rules.
    pub syscalls: Option<Vec<LinuxSyscall>>,
}

/// A seccomp action, as libseccomp names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LinuxSeccompAction {
    /// `SCMP_ACT_KILL`.
    ScmpActKill,
    /// `SCMP_ACT_KILL_THREAD`.
    ScmpActKillThread,
    /// `SCMP_ACT_KILL_PROCESS`.
    ScmpActKillProcess,
    /// `SCMP_ACT_TRAP`.
    ScmpActTrap,
    /// `SCMP_ACT_ERRNO`.
    ScmpActErrno,
    /// `SCMP_ACT_NOTIFY`.
    ScmpActNotify,
    /// `SCMP_ACT_TRACE`.
    ScmpActTrace,
    /// `SCMP_ACT_LOG`.
    ScmpActLog,
    /// `SCMP_ACT_ALLOW`.
    ScmpActAllow,
}

impl LinuxSeccompAction {
    /// The filter's return value (`SECCOMP_RET_*`), with `errno_ret` in
    /// the data bits of ERRNO and TRACE (1 when absent, as libseccomp).
    pub fn as_u32(self, errno_ret: Option<u32>) -> u32 {
        match self {
            Self::ScmpActKill | Self::ScmpActKillThread => 0x0000_0000,
            Self::ScmpActKillProcess => 0x8000_0000,
            Self::ScmpActTrap => 0x0003_0000,
            Self::ScmpActErrno => 0x0005_0000 | errno_ret.unwrap_or(1),
            Self::ScmpActNotify => 0x7fc0_0000,
            Self::ScmpActTrace => 0x7ff0_0000 | errno_ret.unwrap_or(1),
            Self::ScmpActLog => 0x7ffc_0000,
            Self::ScmpActAllow => 0x7fff_0000,
        }
    }
}

/// A seccomp(2) flag, as the spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LinuxSeccompFilterFlag {
    /// `SECCOMP_FILTER_FLAG_LOG`.
    SeccompFilterFlagLog,
    /// `SECCOMP_FILTER_FLAG_TSYNC`.
    SeccompFilterFlagTsync,
    /// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`.
    SeccompFilterFlagSpecAllow,
    /// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`.
    SeccompFilterFlagWaitKillableRecv,
}

/// One rule: these syscalls get this action (if the argument conditions hold).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxSyscall {
    /// Syscall names (required); unknown ones are skipped.
    pub names: Vec<String>,
    /// Required.
    pub action: LinuxSeccompAction,
    /// The errno of `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE`.
    pub errno_ret: Option<u32>,
    /// Conditions, all of which must hold.
    pub args: Option<Vec<LinuxSeccompArg>>,
}

/// One argument condition.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxSeccompArg {
    /// Which argument, 0 to 5.
    pub index: usize,
    /// Compared with it (the mask for `SCMP_CMP_MASKED_EQ`).
    pub value: u64,
    /// The value `SCMP_CMP_MASKED_EQ` wants after masking.
    pub value_two: Option<u64>,
    /// How.
    pub op: LinuxSeccompOperator,
}

/// A comparison, as libseccomp names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LinuxSeccompOperator {
    /// `SCMP_CMP_NE`.
    ScmpCmpNe,
    /// `SCMP_CMP_LT`.
    ScmpCmpLt,
    /// `SCMP_CMP_LE`.
    ScmpCmpLe,
    /// `SCMP_CMP_EQ`.
    ScmpCmpEq,
    /// `SCMP_CMP_GE`.
    ScmpCmpGe,
    /// `SCMP_CMP_GT`.
    ScmpCmpGt,
    /// `SCMP_CMP_MASKED_EQ`.
    ScmpCmpMaskedEq,
}
