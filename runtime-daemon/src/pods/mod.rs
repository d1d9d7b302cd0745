//! The pod sandbox manager.
//!
//! A sandbox is a set of pinned namespaces (see
//! [`crate::platform::namespaces`]), a CNI attachment with the pod's `net.*`
//! sysctls applied after it (see [`crate::platform::cni`]), and a pause
//! process run by its own `cradle-shim`, inside the pod cgroup. The pod's
//! other (IPC) sysctls are checked here and applied by each container's
//! spec (see [`crate::platform::sysctls`]). RunPodSandbox (`run`) builds them
//! in that order and unwinds in reverse on failure; Stop (`stop`) ends
//! the pause process; Remove (`remove`) deletes the shim and the pins.
//! Containers are the container manager's business: the runtime layer
//! above stops and removes them before it calls in here.

pub mod files;
#[cfg(test)]
mod handler_tests;
mod manager;
#[cfg(test)]
mod manager_tests;
mod pause_args;
mod record;
mod remove;
mod run;
mod stop;
pub mod userns;

pub use manager::SandboxManager;
pub use record::{SandboxRecord, SandboxState};
