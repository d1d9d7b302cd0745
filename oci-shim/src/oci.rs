//! `cradle-oci`, Cradle's runc-compatible OCI runtime, as a library the
//! `cradle-oci` binary drives.
//!
//! One file per verb ([`create`], [`start`], [`state`], [`kill`],
//! [`delete`], [`pause`], [`features`]) and one per concern of the container's init
//! process ([`init`] calls [`rootfs`], [`mounts`], [`devices`], [`process`]).
//!
//! The process model, as runc's: the `create` process forks an
//! *intermediate* child that joins and unshares namespaces; the
//! intermediate forks the *init* (so a new pid namespace applies to it),
//! reports its pid and exits. The `create` process puts the init in its
//! cgroup, lets it go, and waits for "ready"; the init sets up the rootfs,
//! credentials and capabilities, then blocks opening the exec FIFO until
//! `start` reads it, and execs the user's program.
//!
//! With hooks, the init stops after its mounts and asks `create` to run
//! the prestart and createRuntime hooks before it runs createContainer
//! and pivots ([`hooks`] has the whole schedule). The defences against
//! known escapes live in [`hardening`], [`confined`] and [`sealed_exe`].
//!
//! Everything here is synchronous and single-threaded, so `fork` is sound.

pub mod create;
pub mod delete;
pub mod error;
pub mod exec;
pub mod features;
pub mod keyring;
pub mod kill;
pub mod log;
pub mod pause;
pub mod run;
pub mod sealed_exe;
pub mod spec_template;
pub mod start;
pub mod state;
pub mod update;

mod confined;
mod copyup;
mod devices;
mod hardening;
mod hooks;
mod idmap;
mod init;
mod lsm;
mod mountapi;
mod mounts;
mod namespaces;
mod process;
mod rootfs;
mod seccomp;
mod sync;
mod syscall;
mod terminal;
mod userns;

pub use error::OciError;

/// The default `--root` directory for container state.
pub const DEFAULT_ROOT: &str = "/run/cradle-oci";
