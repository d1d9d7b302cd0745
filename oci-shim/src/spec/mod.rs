//! The bundle's `config.json` (runtime-spec 1.2), as far as `cradle-oci`
//! reads it: plain serde types with public fields, one file per part of the
//! spec ([`process`](Process), [`mounts`](Mount) and [`root`](Root), the
//! [`linux`](Linux) namespaces, ids and devices, its
//! [`resources`](LinuxResources), [`seccomp`](LinuxSeccomp) and
//! [`hooks`](Hooks)).
//!
//! Only the fields `cradle-oci` reads, applies or refuses are here; every
//! other field is ignored, like any unknown one. Type names follow the
//! runtime-spec's Go types and JSON names are the spec's. What the spec
//! lets a config omit is an `Option` (serde reads a missing one as `None`)
//! or a `#[serde(default)]` number; what it requires (`process.user`,
//! `process.cwd`, a mount's `destination`, a namespace's `type`, a seccomp
//! profile's `defaultAction`…) is required here too, so such a config
//! still fails to parse.
//!
//! Why not the `oci-spec` crate: its deserializers and the regex engine it
//! pulls in (for a field `cradle-oci` never reads) were the largest part of
//! `cradle-oci`'s code, and its short-lived processes must stay small.

mod devices;
mod hooks;
mod linux;
mod mounts;
mod process;
mod resources;
mod seccomp;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use serde::Deserialize;

pub use devices::{LinuxDevice, LinuxDeviceType};
pub use hooks::{Hook, Hooks};
pub use linux::{Linux, LinuxIdMapping, LinuxNamespace, LinuxNamespaceType, LinuxTimeOffset};
pub use mounts::{Mount, Root};
pub use process::{ConsoleSize, LinuxCapabilities, PosixRlimit, PosixRlimitType, Process, User};
pub use resources::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxHugepageLimit, LinuxInterfacePriority,
    LinuxMemory, LinuxNetwork, LinuxPids, LinuxRdma, LinuxResources, LinuxThrottleDevice,
    LinuxWeightDevice,
};
pub use seccomp::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

/// A whole `config.json`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Spec {
    /// The container's root filesystem.
    pub root: Option<Root>,
    /// Mounts made in order after the rootfs, before pivot_root.
    pub mounts: Option<Vec<Mount>>,
    /// The container's process (required by `create`).
    pub process: Option<Process>,
    /// Set in a new UTS namespace.
    pub hostname: Option<String>,
    /// The NIS domain name, set in a new UTS namespace.
    pub domainname: Option<String>,
    /// Lifecycle hooks.
    pub hooks: Option<Hooks>,
    /// Passed on, unread, in the state JSON.
    pub annotations: Option<HashMap<String, String>>,
    /// Everything Linux-specific.
    pub linux: Option<Linux>,
}
