//! `cradle-oci`, Cradle's runc-compatible OCI runtime, as a library the
//! `cradle-oci` binary drives.
//!
//! - [`verbs`]: one file per CLI verb, each thin.
//! - `process`: the create → intermediate → init chain, one file per stage
//!   as youki names them (`main_process`, `intermediate_process`,
//!   `init_process`), with its sync protocol (`message`, `channel`).
//! - `rootfs`: what the init makes of the root filesystem (prepare, mounts,
//!   devices, pivot, masked paths), every path confined to the rootfs.
//! - [`security`]: seccomp, capabilities, AppArmor/SELinux, the session
//!   keyring and the defences against known runc escapes.
//! - `syscall`: the seam between that set-up and the kernel (`Kernel`, and
//!   a recorder in tests), so the call sequence for a spec is tested
//!   without root.
//! - Shared: [`bundle`] (config.json), [`state`] (the on-disk record the
//!   verbs share), [`container_cgroup`], [`error`], [`log`], and `hooks`.
//!
//! Everything here is synchronous and single-threaded, so `fork` is sound.

pub mod bundle;
pub mod container_cgroup;
pub mod error;
pub mod log;
pub(crate) mod process;
pub(crate) mod rootfs;
pub mod security;
pub mod state;
pub mod verbs;

mod hooks;
mod syscall;

pub use error::OciError;

/// The default `--root` directory for container state.
pub const DEFAULT_ROOT: &str = "/run/cradle-oci";
