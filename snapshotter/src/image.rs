//! Image records.

use serde::{Deserialize, Serialize};

/// An image as the node knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// `sha256:<hex of the config blob digest>`: the CRI image id and image_ref.
    pub id: String,
    /// Normalized tag references, e.g. `docker.io/library/busybox:latest`.
    pub repo_tags: Vec<String>,
    /// Digest references, e.g. `127.0.0.1:5000/busybox@sha256:<manifest digest>`.
    pub repo_digests: Vec<String>,
    /// Bytes: compressed layers plus config, as `crictl images` shows.
    pub size: u64,
    /// Layer (diff) digests, bottom first.
    pub layers: Vec<String>,
    pub config: ImageConfig,
}

/// The runtime-relevant part of the image's config blob.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub user: Option<String>,
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: Option<String>,
    pub stop_signal: Option<String>,
    pub labels: std::collections::BTreeMap<String, String>,
}
