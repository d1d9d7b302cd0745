//! Errors of the image store.
//!
//! One enum for the whole crate: the daemon maps it to gRPC statuses, so every
//! message names the object (reference, digest, layer, path) and the cause.

use std::path::PathBuf;

/// Everything that can go wrong while pulling, storing or mounting images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reference that does not parse as `[registry/]repository[:tag][@digest]`.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No image by that reference, id or digest is stored.
    #[error("image {0:?} not found")]
    NotFound(String),
    /// A feature the store does not have yet (named).
    #[error("{0} is not implemented yet")]
    Unimplemented(&'static str),
    /// A file system operation failed.
    #[error("I/O error at {path}: {source}")]
    Io {
        /// The file or directory operated on.
        path: PathBuf,
        /// The refusal.
        source: std::io::Error,
    },
    /// The registry refused or failed a request.
    #[error("registry error pulling {reference}: {source}")]
    Registry {
        /// The image being pulled.
        reference: String,
        /// The registry client's error.
        source: oci_client::errors::OciDistributionError,
    },
    /// The registry refused the credentials, or asked for some and got none.
    #[error(
        "registry {host} refused access to {reference} (credentials missing or wrong): {reason}"
    )]
    Unauthorized {
        /// The image being pulled.
        reference: String,
        /// The registry host that refused.
        host: String,
        /// The registry's answer.
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
        /// The image being pulled.
        reference: String,
        /// The blob that stalled.
        digest: String,
        /// Bytes of the blob received before the stall.
        received: u64,
        /// The stall timeout, seconds.
        secs: u64,
    },
    /// The connection failed in the middle of a blob.
    #[error("download of {digest} for {reference} failed after {received} bytes: {source}")]
    Download {
        /// The image being pulled.
        reference: String,
        /// The blob being downloaded.
        digest: String,
        /// Bytes of the blob received before the failure.
        received: u64,
        /// The connection's error.
        source: std::io::Error,
    },
    /// An archive to import that is neither an OCI layout nor a docker archive,
    /// or names content it does not contain.
    #[error("cannot import {source_name}: {reason}")]
    BadArchive {
        /// The archive's name, as the caller gave it.
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest, index or config that cannot be used (bad JSON, no
    /// linux/amd64 entry, unsupported media type...).
    #[error("unusable {what} of {reference}: {reason}")]
    BadImage {
        /// The image.
        reference: String,
        /// Which document: `manifest`, `index` or `config`.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A blob's content does not hash to its digest; nothing was stored.
    #[error("digest mismatch for {object}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The blob (layer, config, manifest) that was checked.
        object: String,
        /// The digest it should have.
        expected: String,
        /// The digest its content has.
        actual: String,
    },
    /// A digest string that is not `sha256:<64 hex>`.
    #[error("unsupported or malformed digest {0:?} (only sha256 is supported)")]
    BadDigest(String),
    /// A layer tar entry that would land outside the layer root.
    #[error("layer {layer}: refusing entry {entry:?}: {reason}")]
    UnsafeLayerEntry {
        /// The layer's digest.
        layer: String,
        /// The entry's path in the tar.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// A layer that cannot be read or unpacked (corrupt tar or compression).
    #[error("layer {layer}: cannot unpack entry {entry:?}: {source}")]
    Unpack {
        /// The layer's digest.
        layer: String,
        /// The entry's path in the tar (empty when the archive itself is unreadable).
        entry: String,
        /// The read or write error.
        source: std::io::Error,
    },
    /// The image metadata database failed.
    #[error("image database error while {action}: {source}")]
    Database {
        /// What the store was doing (`creating tables`, ...).
        action: &'static str,
        /// The database's error.
        source: redb::Error,
    },
    /// A record in the database that does not parse.
    #[error("corrupt image record {key:?}: {source}")]
    CorruptRecord {
        /// The record's key.
        key: String,
        /// Why it does not parse.
        source: serde_json::Error,
    },
    /// Mounting or unmounting a container rootfs failed.
    #[error("cannot {action} overlay at {target}: {source}")]
    Mount {
        /// `mount` or `unmount`.
        action: &'static str,
        /// The rootfs mount point.
        target: PathBuf,
        /// The kernel's refusal.
        source: nix::Error,
    },
    /// The image still backs a container's rootfs.
    #[error("image {image} is in use by container {container}")]
    ImageInUse {
        /// The image asked to be removed.
        image: String,
        /// A container whose rootfs it backs.
        container: String,
    },
    /// An image whose layers cannot be stacked in one overlay mount.
    #[error("image {image} has {layers} layers, too many for one overlay mount: {reason}")]
    TooManyLayers {
        /// The image.
        image: String,
        /// How many layers it has.
        layers: usize,
        /// The limit it hit (mount option length or overlay's stack depth).
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
