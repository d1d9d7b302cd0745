//! The seam over namespace pinning: what the sandbox manager, the removal
//! and the sweep ask of [`super::namespaces`], as a trait the context holds,
//! so their logic runs against a fake without root. [`KernelPinner`] is the
//! real one. The calls block (a thread unshares and mounts): callers run
//! them on blocking threads, as before the seam.

use super::namespaces::{self, NsError, PinRequest, Pins};
use std::path::Path;

/// Pins a pod's namespaces so they outlive its processes, and takes them apart.
pub trait NamespacePinner: Send + Sync {
    /// Creates the requested namespaces and pins them under `dir` (created
    /// here). On failure nothing is left behind.
    fn pin(&self, dir: &Path, request: &PinRequest) -> Result<Pins, NsError>;

    /// Unmounts and deletes the pins and their directory. Idempotent.
    fn unpin(&self, pins: &Pins) -> Result<(), NsError>;

    /// The pins found under `dir` (what a crashed daemon left there): the
    /// paths of the pinned namespaces that exist.
    fn found(&self, dir: &Path) -> Pins {
        let pin = |kind: &str| Some(dir.join(kind)).filter(|p| p.exists());
        Pins {
            net: pin("net"),
            ipc: pin("ipc"),
            uts: pin("uts"),
            dir: dir.to_path_buf(),
        }
    }
}

/// The kernel's namespaces, pinned by bind mounts ([`super::namespaces`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct KernelPinner;

impl NamespacePinner for KernelPinner {
    fn pin(&self, dir: &Path, request: &PinRequest) -> Result<Pins, NsError> {
        namespaces::pin(dir, request)
    }

    fn unpin(&self, pins: &Pins) -> Result<(), NsError> {
        namespaces::unpin(pins)
    }
}
