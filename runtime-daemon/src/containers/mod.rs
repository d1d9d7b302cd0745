//! The container manager.
//!
//! A container is an overlay rootfs from the image store, a bundle
//! (`<root>/containers/<id>/bundle/{config.json,rootfs}`) and a `cradle-shim`
//! that created it with the OCI runtime and watches it. [`ContainerManager`]
//! (`manager`) owns the records; each verb has its own module. Create
//! (`create`) builds them in that order and unwinds in reverse on failure;
//! Start (`start`) asks the shim to start it and parks a [`monitor`] on
//! the shim's `Wait`; Stop (`stop`) signals and waits; the exit monitor
//! unmounts the rootfs of a container that exited, and `exit` records how
//! it ended; Update (`update`) changes its cgroup limits through the OCI
//! runtime; Remove (`remove`) deletes the shim, moves the writable layer
//! (with the container's read-only `image_volumes` unmounted) and the
//! bundle into a `trash` and deletes them after answering. A process the OCI
//! runtime cannot create or start (a command missing from the image) ends
//! the container at Start as `ContainerCannotRun`, exit code 128, as
//! containerd reports it.

pub mod cdi;
mod create;
pub mod devices;
pub mod exec;
mod exit;
pub mod features;
mod hugetlb;
mod image_volumes;
mod log_path;
mod lost;
mod manager;
#[cfg(test)]
mod manager_tests;
pub mod monitor;
mod propagation;
mod record;
mod remove;
mod reopen_log;
mod runtime_cmd;
pub mod spec;
mod start;
mod stop;
mod stop_signal;
mod trash;
mod update;
mod userns;
pub mod users;

pub(crate) use exit::{persist, record_exit};
pub(crate) use lost::lost;
pub use manager::ContainerManager;
pub use record::{ContainerRecord, ContainerState};
pub use stop_signal::parse_stop_signal;
pub(crate) use trash::empty as empty_trash;
