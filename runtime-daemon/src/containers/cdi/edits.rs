//! The CDI edits of a container, as [`super::resolve`] completes them and
//! [`super::apply`] applies them, and the error of both.

use oci_spec::runtime::{Hook, LinuxDevice, Mount};

/// Why the CDI devices of a container cannot be injected.
#[derive(Debug, thiserror::Error)]
pub enum CdiError {
    #[error("{0}")]
    Unresolvable(String),
    #[error("CDI {from}: {what} edits are not supported by this runtime")]
    Unsupported { from: String, what: &'static str },
    #[error("CDI {from}: device node {path}: {message}")]
    Node {
        from: String,
        path: String,
        message: String,
    },
    #[error("CDI {from}: {message}")]
    Build { from: String, message: String },
}

/// A device node to create, and its device cgroup access (`None` for a
/// fifo, which the device cgroup does not govern).
#[derive(Debug, Clone, PartialEq)]
pub struct CdiNode {
    pub node: LinuxDevice,
    pub access: Option<String>,
}

/// The edits of every requested device, completed from the host, in the
/// order the CDI library applies them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CdiEdits {
    pub env: Vec<String>,
    pub devices: Vec<CdiNode>,
    pub mounts: Vec<Mount>,
    /// `(hookName, hook)`.
    pub hooks: Vec<(String, Hook)>,
    pub additional_gids: Vec<u32>,
}

impl CdiEdits {
    /// Whether no device asked for anything.
    pub fn is_empty(&self) -> bool {
        *self == CdiEdits::default()
    }
}
