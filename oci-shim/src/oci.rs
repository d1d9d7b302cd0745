//! `cradle-oci`, Cradle's runc-compatible OCI runtime, as a library the
//! `cradle-oci` binary drives.
//!
//! [`verbs`] holds one file per CLI verb; [`process`] the create →
//! intermediate → init chain; [`rootfs`] and [`security`] what the init
//! sets up.

pub mod bundle;
pub mod container_cgroup;
pub mod error;
pub mod log;
pub mod process;
pub mod rootfs;
pub mod security;
pub mod state;
pub mod verbs;

mod hooks;
mod syscall;

pub use error::OciError;

/// The default `--root` directory for container state.
pub const DEFAULT_ROOT: &str = "/run/cradle-oci";
