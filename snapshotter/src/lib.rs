//! Cradle's image store.
//!
//! This crate owns everything between an image reference and a container's root
//! filesystem: resolving references, pulling manifests and blobs from registries
//! (through `oci-client`), the content store (`<root>/content/blobs/sha256/<hex>`,
//! every blob verified by digest before it becomes visible), unpacking layers into
//! their own snapshot directories (whiteouts converted to overlay whiteouts,
//! entries confined to the layer root), the image records, and one overlay mount
//! per container. Records live in tables of the daemon's redb database, handed in
//! by the caller. It knows nothing of CRI, pods or shims.

mod error;
mod image;

pub use error::Error;
pub use image::{Image, ImageConfig};

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where and how to pull.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// Registry hosts (`host` or `host:port`) spoken to over plain HTTP.
    /// Loopback registries (`127.0.0.1`, `localhost`, `[::1]`) always are.
    pub insecure_registries: Vec<String>,
}

/// Credentials for one pull, from the CRI `AuthConfig`.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// The image store: content, snapshots and image records under one root.
pub struct ImageStore {
    _private: (),
}

impl ImageStore {
    /// Opens (creating if needed) the store under `root` (e.g. `/var/lib/cradle`),
    /// keeping its records in `db`.
    pub fn open(
        root: &Path,
        db: Arc<redb::Database>,
        registries: RegistryConfig,
    ) -> Result<Self, Error> {
        let _ = (root, db, registries);
        Err(Error::Unimplemented("ImageStore::open"))
    }

    /// Pulls `reference` (e.g. `127.0.0.1:5000/busybox:latest`, a short name, or
    /// `name@sha256:…`) for linux/amd64, stores and unpacks it, records it, and
    /// returns the image (its `id` is `sha256:<config digest>`).
    pub async fn pull(&self, reference: &str, auth: Option<Credentials>) -> Result<Image, Error> {
        let _ = (reference, auth);
        Err(Error::Unimplemented("ImageStore::pull"))
    }

    /// All images, from memory.
    pub fn list(&self) -> Vec<Image> {
        Vec::new()
    }

    /// Finds an image by id (`sha256:<hex>` or the bare hex), by a tag reference
    /// (normalized: `busybox` finds `docker.io/library/busybox:latest`) or by a
    /// digest reference (`name@sha256:…`). `None` when absent.
    pub fn resolve(&self, reference_or_id: &str) -> Option<Image> {
        let _ = reference_or_id;
        None
    }

    /// Removes the image (by anything [`ImageStore::resolve`] accepts) with its
    /// records and the content and snapshots no other image uses. Absent: `Ok`.
    pub async fn remove(&self, reference_or_id: &str) -> Result<(), Error> {
        let _ = reference_or_id;
        Err(Error::Unimplemented("ImageStore::remove"))
    }

    /// Creates the writable layer of container `container_id` on top of image
    /// `image_id` and mounts the overlay at `target` (which must exist).
    pub fn mount_rootfs(
        &self,
        container_id: &str,
        image_id: &str,
        target: &Path,
    ) -> Result<(), Error> {
        let _ = (container_id, image_id, target);
        Err(Error::Unimplemented("ImageStore::mount_rootfs"))
    }

    /// Unmounts `target` (if mounted) and deletes the writable layer of
    /// `container_id`. Idempotent.
    pub fn remove_rootfs(&self, container_id: &str, target: &Path) -> Result<(), Error> {
        let _ = (container_id, target);
        Err(Error::Unimplemented("ImageStore::remove_rootfs"))
    }

    /// The directory that holds this store's snapshots (for leak checks and GC).
    pub fn snapshots_dir(&self) -> PathBuf {
        PathBuf::new()
    }
}
