//! The processes that sit between `cradled` and the kernel.
//!
//! - [`shim`]: `cradle-shim`, one per container (and one per pod, running the
//!   built-in pause process, pid 1 of the pod's own pid namespace). It outlives
//!   daemon restarts, owns the container's stdio (the CRI log file, and the
//!   stdin pipe and attach socket that Attach uses), reaps the init as a child
//!   subreaper, records how it exited, and answers the daemon over
//!   [`cradle_proto::shim`].
//! - [`oci`]: `cradle-oci`, a runc-compatible OCI runtime: namespaces (user
//!   and time included), mounts confined to the rootfs, pivot_root, cgroups,
//!   capabilities, seccomp, hooks, pause/resume, exec and run, hardened
//!   against the known runc escapes.
//! - [`cgroups`]: the cgroupfs v1/v2 library both use.
//! - [`sockpath`]: unix socket paths of any length (through a directory fd).
//! - [`spec`]: the serde types of the bundle's `config.json` that
//!   `cradle-oci` reads (in place of the much larger `oci-spec` crate).
//!
//! Both are synchronous and small: no async runtime, nothing linked from the daemon.

pub mod cgroups;
/// The CRI log writer's check for the fuzz targets and the corpus replay test.
#[doc(hidden)]
pub mod fuzzing;
pub mod oci;
pub mod shim;
pub use cradle_proto::sockpath;
pub mod spec;
