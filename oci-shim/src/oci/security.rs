//! What confines the container and defends the runtime against it:
//! `seccomp` (profiles compiled to BPF), `capabilities`, `lsm`
//! (AppArmor, SELinux), the session [`keyring`], and the defences against
//! known escapes: `hardening` (non-dumpable, descriptors, a real
//! procfs) and [`sealed_exe`] (the runtime re-executes from a sealed copy).

pub(crate) mod capabilities;
pub(crate) mod hardening;
pub mod keyring;
pub(crate) mod lsm;
pub mod sealed_exe;
pub(crate) mod seccomp;
