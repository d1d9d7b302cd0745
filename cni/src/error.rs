//! The CNI client's error, in a file of its own so that every part of the
//! client (the network, the plugin wire format) can name it without
//! importing each other.

use std::path::PathBuf;

use crate::cache::CacheError;
use crate::config::{ConfigError, InvalidConfig};
use crate::exec::ExecError;

/// Errors of the CNI client.
#[derive(Debug, thiserror::Error)]
pub enum CniError {
    /// The configuration directory cannot be listed.
    #[error(transparent)]
    ConfigDir(#[from] ConfigError),
    /// A cached attachment's configuration no longer parses.
    #[error("network config {}: {reason}", origin.display())]
    InvalidConfig {
        /// Where it came from (`cache:<network>`).
        origin: PathBuf,
        /// What is wrong with it.
        reason: InvalidConfig,
    },
    /// The configuration's spec version is older than this client speaks.
    #[error("network {network:?}: cniVersion {version:?} is not supported (need 0.3.0 or newer)")]
    UnsupportedVersion {
        /// The network's name.
        network: String,
        /// Its `cniVersion`.
        version: String,
    },
    /// The spec version predates the command (CHECK before 0.4.0, STATUS
    /// and GC before 1.1.0).
    #[error("network {network:?}: cniVersion {version} does not support {command}")]
    UnsupportedCommand {
        /// The network's name.
        network: String,
        /// Its `cniVersion`.
        version: String,
        /// The command asked for (`CHECK`, `STATUS`, `GC`).
        command: &'static str,
    },
    /// A plugin failed; the message is the plugin's own.
    #[error("plugin type={plugin:?} name={network:?} failed ({command}): {source}")]
    Plugin {
        /// The plugin type that failed.
        plugin: String,
        /// The network's name.
        network: String,
        /// The command it was running (`ADD`, `DEL`, ...).
        command: &'static str,
        /// How the call failed.
        source: Box<ExecError>,
    },
    /// A plugin succeeded but its stdout is not a result the spec allows.
    #[error(
        "plugin type={plugin:?} name={network:?} ({command}) returned an unusable result: {reason}"
    )]
    BadResult {
        /// The plugin type.
        plugin: String,
        /// The network's name.
        network: String,
        /// The command it was running.
        command: &'static str,
        /// What is wrong with the output.
        reason: String,
    },
    /// CHECK of an attachment with no cached ADD.
    #[error("network {network:?}: no cached result for {container_id} ({ifname})")]
    NotAttached {
        /// The network's name.
        network: String,
        /// The sandbox id.
        container_id: String,
        /// The interface in the pod.
        ifname: String,
    },
    /// ADD of an attachment that is already set up (its DEL must come
    /// first); refused without touching the existing attachment.
    #[error("network {network:?}: {container_id} ({ifname}) is already attached")]
    AlreadyAttached {
        /// The network's name.
        network: String,
        /// The sandbox id.
        container_id: String,
        /// The interface in the pod.
        ifname: String,
    },
    /// The result cache cannot be read or written.
    #[error(transparent)]
    Cache(#[from] CacheError),
}
