//! Pod networking for Cradle.
//!
//! This crate owns the node's side of the Container Network Interface:
//! finding the network configuration in the CNI config directory
//! (`/etc/cni/net.d`, see [`config`]), which decides the CRI `NetworkReady`
//! condition; running its plugins against a pod's network namespace
//! ([`CniNetwork`]: ADD with `prevResult` chaining and `runtimeConfig`
//! capabilities, DEL from the on-disk [`cache`], CHECK, STATUS, GC, each
//! plugin call with a deadline); and Cradle's own plugin, `cradle-bridge`
//! ([`plugin`], a separate binary any CNI runtime can use: bridge, veth
//! pairs, host-local compatible IPAM, masquerade), plus applying a pod's
//! `net.*` sysctls in its namespace ([`sysctl`]). `conf/10-cradle.conflist`
//! is the default network the quick start installs.
//!
//! The client is synchronous and links no async runtime into its callers'
//! paths (only the plugin binary runs rtnetlink on a one-thread runtime).
//! The pod namespaces themselves are created and pinned by the daemon
//! (`cradle-daemon`'s `pods::namespaces`). The crate knows nothing of CRI or
//! containers beyond the identity the CNI spec passes to plugins.
//!
//! Using it from the daemon (all calls block; run them on a blocking
//! thread): [`CniNetwork::load`] on every `Status` and before each ADD/DEL
//! (cheap; `None` means NetworkReady=false); [`CniNetwork::setup`] in
//! RunPodSandbox (it undoes itself on failure and caches the result);
//! [`CniNetwork::teardown`] in StopPodSandbox, or [`teardown_cached`] when no
//! configuration is loaded (both succeed for pods already detached);
//! [`CniNetwork::cached_result`] for PodSandboxStatus after a restart;
//! [`CniNetwork::gc`] with the live sandboxes at start-up to sweep orphans;
//! [`sysctl::apply_net_sysctls`] for the pod's `net.*` sysctls.

pub mod cache;
pub mod config;
mod error;
pub mod exec;
pub mod fault;
/// The parsers' entry points for the fuzz targets and the corpus replay tests.
#[doc(hidden)]
pub mod fuzzing;
pub mod network;
pub mod plugin;
pub mod sysctl;
pub mod types;
pub mod version;
mod wire;

pub use network::{Attachment, CniError, CniNetwork, DEFAULT_PLUGIN_TIMEOUT, teardown_cached};
pub use types::{Bandwidth, CniResult, DnsConfig, NetworkResult, PodNetwork, PortMapping};
