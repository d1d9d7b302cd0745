//! What confines the container and defends the runtime against it:
//! seccomp, capabilities, AppArmor/SELinux, the session keyring and the
//! defences against known runc escapes.

pub(crate) mod hardening;
pub mod keyring;
pub(crate) mod lsm;
pub mod sealed_exe;
pub(crate) mod seccomp;
