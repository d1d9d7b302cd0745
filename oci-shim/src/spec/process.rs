//! `process`: what runs, as whom, with which limits and capabilities.

use std::collections::HashSet;
use std::path::PathBuf;

use caps::Capability;
use serde::{Deserialize, Deserializer};

/// The container's process, or an exec'd one (`exec --process`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    /// Run on a pty handed over the console socket.
    pub terminal: Option<bool>,
    /// The pty's initial size.
    pub console_size: Option<ConsoleSize>,
    /// Required, as in the spec.
    pub user: User,
    /// argv; `args[0]` is looked up in the process's `PATH`.
    pub args: Option<Vec<String>>,
    /// The whole environment (nothing is inherited).
    pub env: Option<Vec<String>>,
    /// Required, absolute inside the container; created when missing.
    pub cwd: PathBuf,
    /// Missing sets are empty (no capability).
    pub capabilities: Option<LinuxCapabilities>,
    /// Set in order before the process runs.
    pub rlimits: Option<Vec<PosixRlimit>>,
    /// PR_SET_NO_NEW_PRIVS, which also changes when seccomp goes in.
    pub no_new_privileges: Option<bool>,
    /// Written to `/proc/<pid>/oom_score_adj` by `create`.
    pub oom_score_adj: Option<i32>,
    /// The AppArmor profile to exec under (refused where AppArmor is off).
    pub apparmor_profile: Option<String>,
    /// The SELinux process label (refused where SELinux is off).
    pub selinux_label: Option<String>,
}

/// `process.consoleSize`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct ConsoleSize {
    /// Rows.
    #[serde(default)]
    pub height: u64,
    /// Columns.
    #[serde(default)]
    pub width: u64,
}

/// `process.user`: numeric ids only (names are not resolved).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user id, in the container's user namespace.
    #[serde(default)]
    pub uid: u32,
    /// The group id.
    #[serde(default)]
    pub gid: u32,
    /// Set before exec when given.
    pub umask: Option<u32>,
    /// Supplementary groups (setgroups).
    pub additional_gids: Option<Vec<u32>>,
}

/// `process.capabilities`: the five sets, as names such as `CAP_CHOWN`.
///
/// Like the oci-spec crate this replaces, a name is read case-insensitively
/// with or without its `CAP_` prefix (Kubernetes passes `SYS_ADMIN`), and
/// a name no kernel has is a parse error; one this kernel lacks, or the
/// runtime cannot grant, is refused by `create` (`oci::security::capabilities::check_grantable`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LinuxCapabilities {
    /// Everything else in the bounding set is dropped.
    #[serde(default, deserialize_with = "capability_set")]
    pub bounding: Option<HashSet<Capability>>,
    /// The effective set.
    #[serde(default, deserialize_with = "capability_set")]
    pub effective: Option<HashSet<Capability>>,
    /// The inheritable set.
    #[serde(default, deserialize_with = "capability_set")]
    pub inheritable: Option<HashSet<Capability>>,
    /// The permitted set.
    #[serde(default, deserialize_with = "capability_set")]
    pub permitted: Option<HashSet<Capability>>,
    /// The ambient set (each must be permitted and inheritable too).
    #[serde(default, deserialize_with = "capability_set")]
    pub ambient: Option<HashSet<Capability>>,
}

/// A capability name as the spec writes it: `CAP_CHOWN`, or as the oci-spec
/// crate also took it, `chown` or `CAP_cap_chown`.
pub fn parse_capability(name: &str) -> Result<Capability, String> {
    let upper = name.to_uppercase();
    let mut bare = upper.as_str();
    while let Some(rest) = bare.strip_prefix("CAP_") {
        bare = rest;
    }
    format!("CAP_{bare}")
        .parse()
        .map_err(|_| format!("unknown capability {name:?}"))
}

fn capability_set<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<HashSet<Capability>>, D::Error> {
    let names: Option<Vec<String>> = Option::deserialize(d)?;
    names
        .map(|names| {
            names
                .iter()
                .map(|n| parse_capability(n).map_err(serde::de::Error::custom))
                .collect()
        })
        .transpose()
}

/// One entry of `process.rlimits`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct PosixRlimit {
    /// Which limit (required).
    #[serde(rename = "type")]
    pub typ: PosixRlimitType,
    /// The hard limit.
    #[serde(default)]
    pub hard: u64,
    /// The soft limit.
    #[serde(default)]
    pub soft: u64,
}

/// An rlimit `type`: `RLIMIT_NOFILE` and the like, setrlimit(2)'s names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PosixRlimitType {
    /// `RLIMIT_CPU`.
    RlimitCpu,
    /// `RLIMIT_FSIZE`.
    RlimitFsize,
    /// `RLIMIT_DATA`.
    RlimitData,
    /// `RLIMIT_STACK`.
    RlimitStack,
    /// `RLIMIT_CORE`.
    RlimitCore,
    /// `RLIMIT_RSS`.
    RlimitRss,
    /// `RLIMIT_NPROC`.
    RlimitNproc,
    /// `RLIMIT_NOFILE`.
    RlimitNofile,
    /// `RLIMIT_MEMLOCK`.
    RlimitMemlock,
    /// `RLIMIT_AS`.
    RlimitAs,
    /// `RLIMIT_LOCKS`.
    RlimitLocks,
    /// `RLIMIT_SIGPENDING`.
    RlimitSigpending,
    /// `RLIMIT_MSGQUEUE`.
    RlimitMsgqueue,
    /// `RLIMIT_NICE`.
    RlimitNice,
    /// `RLIMIT_RTPRIO`.
    RlimitRtprio,
    /// `RLIMIT_RTTIME`.
    RlimitRttime,
}
