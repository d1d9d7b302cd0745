//! Platform adapters, the bottom layer: the daemon's view of what runs
//! outside it. The client of the per-object shims ([`shim_client`]), the
//! pinned namespaces of a pod ([`namespaces`]), CNI ([`cni`]), which pod
//! namespace a sysctl belongs to ([`sysctls`]), Unix sockets ([`sockets`]),
//! the reaping of orphaned children ([`reaper`]), the node's AppArmor
//! ([`apparmor`]) and what `cradlectl check` reports of the node
//! ([`node_check`]). They
//! know no manager and answer in their own errors ([`shim_error`], the CNI
//! and namespace errors); of the core they name only the typed ids
//! (`core::ids`, which imports nothing of the crate).
//!
//! The managers reach shims, namespace pins and CNI through seams, traits
//! the context holds ([`shims`], [`pinning`], [`networking`]), so their
//! logic is tested against recording fakes without root.

pub mod apparmor;
pub mod cgroup_host;
pub mod cni;
#[cfg(test)]
pub mod fakes;
pub mod idmap_probe;
pub mod namespaces;
pub mod networking;
pub mod node_check;
pub mod pinning;
pub mod reaper;
pub mod shim_client;
pub mod shim_error;
pub mod shims;
pub mod sockets;
pub mod sysctls;
