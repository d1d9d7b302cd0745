//! The seam between the launcher's set-up logic and the kernel, after
//! youki's `Syscall` trait: the set-up steps (namespaces, mounts, the root
//! switch, /dev, credentials, capabilities, names, the cgroup, rlimits,
//! sysctls, the session and terminal, the keyring, the LSM attribute; for
//! the init and for `exec`'s process) make their
//! calls through [`Syscall`]; [`Kernel`] makes them for real, and the tests'
//! `Recorder` records them, so which calls a config.json leads to, in which
//! order, is checked without root.
//!
//! Static dispatch: the set-up functions are generic over the trait and
//! the launcher instantiates them once, with [`Kernel`].

mod kernel;
#[cfg(test)]
mod recorder;
mod traits;

pub(crate) use kernel::Kernel;
#[cfg(test)]
pub(crate) use recorder::{Call, KEYRING_SERIAL, MountCall, Recorder};
pub(crate) use traits::{MountCalls, Syscall};
