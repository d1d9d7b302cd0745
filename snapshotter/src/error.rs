//! Errors of the image store.
//!
//! One enum for the whole crate: the daemon maps it to gRPC statuses, so every
//! message names the object (reference, digest, layer, path) and the cause.

use std::path::PathBuf;

/// Everything that can go wrong while pulling, storing or mounting images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("image {0:?} not found")]
    NotFound(String),
    #[error("{0} is not implemented yet")]
    Unimplemented(&'static str),
    #[error("I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The registry refused or failed a request.
    #[error("registry error pulling {reference}: {source}")]
    Registry {
        reference: String,
        source: oci_client::errors::OciDistributionError,
    },
    /// The registry refused the credentials, or asked for some and got none.
    #[error(
        "registry {host} refused access to {reference} (credentials missing or wrong): {reason}"
    )]
    Unauthorized {
        reference: String,
        host: String,
        reason: String,
    },
    /// Credentials that cannot be used (bad base64 `auth`, malformed file).
    #[error("unusable registry credentials: {0}")]
    BadCredentials(String),
    /// A download received nothing for the configured stall timeout.
    #[error(
        "download of {digest} for {reference} stalled: no data for {secs}s after {received} bytes; cancelled"
    )]
    Stalled {
        reference: String,
        digest: String,
        received: u64,
        secs: u64,
    },
    /// The connection failed in the middle of a blob.
    #[error("download of {digest} for {reference} failed after {received} bytes: {source}")]
    Download {
        reference: String,
        digest: String,
        received: u64,
        source: std::io::Error,
    },
    /// An archive to import that is neither an OCI layout nor a docker archive,
    /// or names content it does not contain.
    #[error("cannot import {source_name}: {reason}")]
    BadArchive { source_name: String, reason: String },
    /// A manifest, index or config that cannot be used (bad JSON, no
    /// linux/amd64 entry, unsupported media type...).
    #[error("unusable {what} of {reference}: {reason}")]
    BadImage {
        reference: String,
        what: &'static str,
        reason: String,
    },
    /// A blob's content does not hash to its digest; nothing was stored.
    #[error("digest mismatch for {object}: expected {expected}, got {actual}")]
    DigestMismatch {
        object: String,
        expected: String,
        actual: String,
    },
    /// A digest string that is not `sha256:<64 hex>`.
    #[error("unsupported or malformed digest {0:?} (only sha256 is supported)")]
    BadDigest(String),
    /// A layer tar entry that would land outside the layer root.
    #[error("layer {layer}: refusing entry {entry:?}: {reason}")]
    UnsafeLayerEntry {
        layer: String,
        entry: String,
        reason: String,
    },
    /// A layer that cannot be read or unpacked (corrupt tar or compression).
    #[error("layer {layer}: cannot unpack entry {entry:?}: {source}")]
    Unpack {
        layer: String,
        entry: String,
        source: std::io::Error,
    },
    /// The image metadata database failed.
    #[error("image database error while {action}: {source}")]
    Database {
        action: &'static str,
        source: redb::Error,
    },
    /// A record in the database that does not parse.
    #[error("corrupt image record {key:?}: {source}")]
    CorruptRecord {
        key: String,
        source: serde_json::Error,
    },
    /// Mounting or unmounting a container rootfs failed.
    #[error("cannot {action} overlay at {target}: {source}")]
    Mount {
        action: &'static str,
        target: PathBuf,
        source: nix::Error,
    },
    /// The image still backs a container's rootfs.
    #[error("image {image} is in use by container {container}")]
    ImageInUse { image: String, container: String },
    /// An image whose layers cannot be stacked in one overlay mount.
    #[error("image {image} has {layers} layers, too many for one overlay mount: {reason}")]
    TooManyLayers {
        image: String,
        layers: usize,
        reason: String,
    },
    /// A container without a writable layer (never mounted, or removed).
    #[error("container {0:?} has no writable layer")]
    NoWritableLayer(String),
    /// An id that cannot be used as a directory name.
    #[error("invalid container id {0:?}")]
    InvalidContainerId(String),
    /// A blocking task panicked or was cancelled.
    #[error("background task for {0} failed")]
    Task(String),
}

impl Error {
    /// Shorthand for [`Error::Io`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`Error::Database`].
    pub(crate) fn db(action: &'static str, source: impl Into<redb::Error>) -> Self {
        Error::Database {
            action,
            source: source.into(),
        }
    }
}
