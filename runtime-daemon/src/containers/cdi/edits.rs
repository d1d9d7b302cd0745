//! The CDI edits of a container, as [`super::resolve`] completes them and
//! [`super::apply`] applies them, and the error of both.

use oci_spec::runtime::{Hook, LinuxDevice, Mount};

/// Why the CDI devices of a container cannot be injected.
#[derive(Debug, thiserror::Error)]
pub enum CdiError {
    /// Some requested names are malformed, unknown or defined twice; the
    /// message lists every one.
    #[error("{0}")]
    Unresolvable(String),
    /// A spec asks for edits this runtime cannot make.
    #[error("CDI {from}: {what} edits are not supported by this runtime")]
    Unsupported {
        /// The device name or `spec <file>` the edits came from.
        from: String,
        /// The CDI field name of the unsupported edit (`intelRdt`, `netDevices`).
        what: &'static str,
    },
    /// A device node could not be completed from the host's node.
    #[error("CDI {from}: device node {path}: {message}")]
    Node {
        /// The device name or `spec <file>` the edits came from.
        from: String,
        /// The node's path in the container.
        path: String,
        /// What is wrong with the host's node.
        message: String,
    },
    /// An edit does not make a valid OCI mount, hook or device entry.
    #[error("CDI {from}: {message}")]
    Build {
        /// The device name or `spec <file>` the edits came from.
        from: String,
        /// The entry and the builder's error.
        message: String,
    },
}

/// A device node to create, and its device cgroup access (`None` for a
/// fifo, which the device cgroup does not govern).
#[derive(Debug, Clone, PartialEq)]
pub struct CdiNode {
    /// The node as the spec's `linux.devices` entry.
    pub node: LinuxDevice,
    /// The device cgroup permissions (`rwm` letters).
    pub access: Option<String>,
}

/// The edits of every requested device, completed from the host, in the
/// order the CDI library applies them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CdiEdits {
    /// `KEY=value` entries to add to the process environment.
    pub env: Vec<String>,
    /// Device nodes to create in the container.
    pub devices: Vec<CdiNode>,
    /// Mounts to add to the spec.
    pub mounts: Vec<Mount>,
    /// `(hookName, hook)`.
    pub hooks: Vec<(String, Hook)>,
    /// Supplementary groups to give the process.
    pub additional_gids: Vec<u32>,
}

impl CdiEdits {
    /// Whether no device asked for anything.
    pub fn is_empty(&self) -> bool {
        *self == CdiEdits::default()
    }
}
