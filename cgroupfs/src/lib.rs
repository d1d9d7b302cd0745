//! One home for where the host's cgroups are and how their files read,
//! shared by the launcher (`cradle-oci`, `cradle-shim`, which write limits
//! into them) and the daemon (which reads usage out of them for the CRI's
//! stats and metrics).
//!
//! - [`hierarchy`]: the root ([`CGROUP_ROOT`]), which hierarchy the host
//!   runs ([`Hierarchy`]: v1 per-controller mounts, v2 unified, or hybrid
//!   with a `unified` mount carrying controllers) and a cgroup's directory
//!   for one controller.
//! - [`parse`]: the cgroup stat file formats as pure functions over text.
//! - [`read`]: thin readers that open a file and hand it to a parser; a
//!   missing or unreadable file is `None` (or empty), never an error, since
//!   a cgroup may vanish between two reads.
//!
//! The crate only reads; it is std, `thiserror` and `nix`'s statfs, so the
//! size-critical static launcher links little of it.

pub mod hierarchy;
mod mount;
pub mod parse;
pub mod read;

pub use hierarchy::{CGROUP_ROOT, Error, Hierarchy, has_controller};
pub use parse::{DeviceIo, Limit};
