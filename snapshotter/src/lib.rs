//! Cradle's image store.
//!
//! This crate owns everything between an image reference and a container's root
//! filesystem: resolving references, pulling manifests and blobs from registries
//! (through `oci-client`: Basic and Bearer auth with the request's or a docker
//! `config.json`'s credentials, its credential helpers, identity tokens
//! exchanged by the OAuth2 refresh-token flow, per-host mirrors, plain HTTP
//! and CAs as [`RegistrySettings`] says), the content store
//! (`<root>/content/blobs/sha256/<hex>`, every blob verified by digest before
//! it becomes visible; concurrent pulls share one download per blob), unpacking
//! layers (plain, gzip, zstd) into their own snapshot directories (whiteouts
//! converted to overlay whiteouts, entries confined to the layer root), the
//! image records, import and export of image archives, one overlay mount
//! per container, and the read-only image volumes (CRI `Mount.image`) a
//! container mounts from other images. Records live in tables of the daemon's redb database, handed
//! in by the caller. It knows nothing of CRI, pods or shims, and never reads
//! the daemon's config file: settings are handed in at open.
//!
//! On-disk layout under the root: `content/blobs/sha256/<hex>` (verified blobs),
//! `content/ingest/` (downloads and import scratch dirs in progress, swept at
//! open except the `<hex>.partial` files interrupted downloads resume from),
//! `snapshots/layers/<diff id hex>/{fs,usage}`
//! (one read-only overlay lower dir per layer, shared by every image that has
//! the layer), `snapshots/containers/<id>/{upper,work,image}` (one writable
//! layer per container), `snapshots/volumes/<id>/<volume>/{image,fs}` (the
//! read-only image volumes of a container). Records: redb tables
//! `snapshotter.images` and `snapshotter.snapshots`. Deciding whether a
//! container may still use an image is the caller's business, except that an
//! image under a mounted container rootfs or image volume is never removed.

mod archive;
mod auth;
mod content;
mod credhelper;
mod digest;
mod download;
mod error;
mod export;
pub mod fault;
mod fsmount;
/// The parsers' entry points for the fuzz targets and the corpus replay tests.
#[doc(hidden)]
pub mod fuzzing;
mod gc;
mod gc_report;
mod hosts;
mod idmapped;
mod image;
mod import;
mod inflight;
mod oauth;
mod overlay;
mod platform;
mod progress;
mod pull;
mod reference;
mod registry;
mod rootfs;
mod snapshots;
mod store;
mod trash;
mod unpack;
mod usage;
mod volumes;

pub use auth::{AuthConfig, Credentials, CredentialsFile};
pub use digest::Digest;
pub use error::Error;
pub use gc_report::{Collected, GcReport};
pub use hosts::{Endpoint, HostConfig, RegistryConfig, RegistrySettings};
pub use idmapped::{IdMapping, idmapped_tree};
pub use image::{Image, ImageConfig, ImageUser};
pub use progress::DownloadProgress;
pub use reference::ImageRef;
pub use trash::Trash;
pub use usage::Usage;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use content::ContentStore;
use rootfs::Rootfs;
use snapshots::LayerSnapshots;
use store::{ImageRecord, Records, SnapshotRecord};
use volumes::ImageVolumes;

/// Layers unpacked at the same time by one pull (the machine has few cores).
const MAX_CONCURRENT_UNPACKS: usize = 2;

/// The image store: content, snapshots and image records under one root.
pub struct ImageStore {
    root: PathBuf,
    registries: RegistrySettings,
    content: ContentStore,
    /// Blob downloads in progress, shared by concurrent pulls.
    downloads: inflight::InFlight,
    /// What the running downloads have received.
    progress: progress::Progress,
    /// Layer unpacks in progress, shared by concurrent pulls.
    unpacks: inflight::InFlight,
    layers: LayerSnapshots,
    rootfs: Rootfs,
    /// Where removed writable layers wait for their deletion.
    trash: Trash,
    volumes: ImageVolumes,
    records: Records,
    /// Pulls hold it shared for their whole run, removals exclusively: a
    /// removal never deletes a blob or snapshot an in-flight pull relies on.
    gc: tokio::sync::RwLock<()>,
    /// Recent measurements of containers' writable layers.
    writable: usage::UsageCache,
    /// Held by `mount_rootfs` for its whole run and by `remove` from its
    /// in-use check to its commit: an image cannot be removed between a
    /// mount finding it and the mount recording that it stands on it.
    mounts: std::sync::Mutex<()>,
}

impl ImageStore {
    /// Opens (creating if needed) the store under `root` (e.g. `/var/lib/cradle`),
    /// keeping its records in `db`. Sweeps leftovers of interrupted pulls and
    /// removals (temp files, unreferenced blobs and snapshots).
    pub fn open(
        root: &Path,
        db: Arc<redb::Database>,
        registries: impl Into<RegistrySettings>,
    ) -> Result<Self, Error> {
        let snapshots = root.join("snapshots");
        let store = ImageStore {
            root: root.to_path_buf(),
            registries: registries.into(),
            content: ContentStore::open(root)?,
            downloads: inflight::InFlight::default(),
            progress: progress::Progress::default(),
            unpacks: inflight::InFlight::default(),
            layers: LayerSnapshots::open(&snapshots)?,
            rootfs: Rootfs::open(&snapshots)?,
            trash: Trash::open(&snapshots.join("trash"))?,
            volumes: ImageVolumes::open(&snapshots)?,
            records: Records::load(db)?,
            gc: tokio::sync::RwLock::new(()),
            mounts: std::sync::Mutex::new(()),
            writable: usage::UsageCache::default(),
        };
        store.content.sweep_ingest()?;
        store.layers.sweep_tmp()?;
        let orphans = store
            .records
            .unreferenced(store.content.list()?, store.layers.list()?);
        store.delete(&orphans);
        Ok(store)
    }

    /// Pulls `reference` (e.g. `127.0.0.1:5000/busybox:latest`, a short name, or
    /// `name@sha256:…`) for this node's platform, stores and unpacks it,
    /// records it, and returns the image (its `id` is `sha256:<config
    /// digest>`). Same as [`ImageStore::pull_with_auth`] with only a username
    /// and password.
    pub async fn pull(&self, reference: &str, auth: Option<Credentials>) -> Result<Image, Error> {
        self.pull_with_auth(reference, auth.map(AuthConfig::from))
            .await
    }

    /// Pulls `reference` with the request's credentials (all the CRI
    /// `AuthConfig` fields; the configured credentials file covers hosts they
    /// do not), through the configured mirrors. Concurrent pulls of the same
    /// content share its downloads and unpacks.
    pub async fn pull_with_auth(
        &self,
        reference: &str,
        auth: Option<AuthConfig>,
    ) -> Result<Image, Error> {
        let image_ref = ImageRef::parse(reference)?;
        let _gc = self.gc.read().await;
        let pull = pull::Pull {
            content: &self.content,
            settings: &self.registries,
            auth: auth.as_ref(),
            inflight: &self.downloads,
            progress: &self.progress,
            layers: &self.layers,
            unpacks: &self.unpacks,
        };
        let fetched = registry::fetch(&pull, &image_ref).await?;
        let names = Names {
            tags: image_ref.tagged().into_iter().collect(),
            digests: vec![image_ref.with_digest(&fetched.top_digest)],
        };
        let image = self
            .commit_fetched(&image_ref.to_string(), names, fetched)
            .await?;
        tracing::info!(reference, id = %image.id, "image pulled");
        Ok(image)
    }

    /// Unpacks and records an image whose blobs are all in the content store
    /// (after a pull or an import). The caller holds the gc lock shared.
    async fn commit_fetched(
        &self,
        reference: &str,
        names: Names,
        fetched: registry::Fetched,
    ) -> Result<Image, Error> {
        let config_bytes = self.content.read(&fetched.config_digest)?;
        let parsed = image::parse_config(reference, &config_bytes)?;
        if parsed.diff_ids.len() != fetched.layers.len() {
            return Err(Error::BadImage {
                reference: reference.to_string(),
                what: "config",
                reason: format!(
                    "{} diff ids for {} layers",
                    parsed.diff_ids.len(),
                    fetched.layers.len()
                ),
            });
        }
        let snapshots = self.unpack_all(&fetched.layers, &parsed.diff_ids).await?;
        let size = fetched.config_size + fetched.layers.iter().map(|(_, s)| s).sum::<u64>();
        let record = ImageRecord {
            image: Image {
                id: fetched.config_digest.to_string(),
                repo_tags: names.tags,
                repo_digests: names.digests,
                size,
                layers: parsed.diff_ids.iter().map(|d| d.to_string()).collect(),
                config: parsed.config,
            },
            config_digest: fetched.config_digest,
            manifest_digests: fetched.manifest_digests,
            layer_blobs: fetched.layers.into_iter().map(|(d, _)| d).collect(),
        };
        self.records.commit_pull(record, snapshots)
    }

    /// Unpacks the layers that have no snapshot yet; returns records of the
    /// snapshots this pull created.
    async fn unpack_all(
        &self,
        blobs: &[(Digest, u64)],
        diff_ids: &[Digest],
    ) -> Result<Vec<SnapshotRecord>, Error> {
        use futures::StreamExt;
        // Owned futures in a Vec, no closure in the stream type: keeps the
        // pull future provably Send for the daemon's gRPC handlers.
        let mut jobs = Vec::new();
        for ((blob, _), diff_id) in blobs.iter().zip(diff_ids) {
            if self.layers.contains(diff_id) && self.records.snapshot(diff_id).is_some() {
                continue;
            }
            jobs.push(unpack_one(
                self.layers.clone(),
                self.unpacks.clone(),
                self.content.path(blob),
                blob.clone(),
                diff_id.clone(),
            ));
        }
        // Every job runs to its end even after one failed: an unpack is a
        // blocking task that dropping its handle would not stop, and it must
        // not outlive the pull (and its hold on the gc lock).
        let results: Vec<Result<SnapshotRecord, Error>> = futures::stream::iter(jobs)
            .buffer_unordered(MAX_CONCURRENT_UNPACKS)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// The blob downloads running now (for progress displays), from memory.
    pub fn downloads(&self) -> Vec<DownloadProgress> {
        self.progress.snapshot()
    }

    /// All images, from memory.
    pub fn list(&self) -> Vec<Image> {
        self.records.images()
    }

    /// Finds an image by id (`sha256:<hex>` or the bare hex, or a unique prefix
    /// of at least 12 hex digits), by a tag reference (normalized: `busybox`
    /// finds `docker.io/library/busybox:latest`) or by a digest reference
    /// (`name@sha256:…`). `None` when absent.
    pub fn resolve(&self, reference_or_id: &str) -> Option<Image> {
        self.records.find(reference_or_id).map(|r| r.image)
    }

    /// Removes the image (by anything [`ImageStore::resolve`] accepts) with its
    /// records and the content and snapshots no other image uses. Absent: `Ok`.
    /// Refused with [`Error::ImageInUse`] while a container rootfs is built on
    /// it or an image volume shows it.
    pub async fn remove(&self, reference_or_id: &str) -> Result<(), Error> {
        self.remove_collecting(reference_or_id).await.map(|_| ())
    }

    /// [`ImageStore::remove`], reporting the blobs and snapshots it deleted
    /// (empty when the image was absent).
    pub async fn remove_collecting(&self, reference_or_id: &str) -> Result<GcReport, Error> {
        let _gc = self.gc.write().await;
        let Some(record) = self.records.find(reference_or_id) else {
            return Ok(GcReport::default());
        };
        let id = record.image.id;
        let freed = {
            let _mounts = self.mounts.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(container) = self.mounted_user(&id)? {
                return Err(Error::ImageInUse {
                    image: id,
                    container,
                });
            }
            self.records.commit_remove(&id)?
        };
        let deleted = self.delete(&freed);
        tracing::info!(id, "image removed");
        Ok(deleted)
    }

    /// The container whose rootfs is built on image `image_id` or whose
    /// image volume shows it, if any: [`ImageStore::remove`] refuses such
    /// an image.
    pub fn image_user(&self, image_id: &str) -> Result<Option<String>, Error> {
        let _mounts = self.mounts.lock().unwrap_or_else(|p| p.into_inner());
        self.mounted_user(image_id)
    }

    /// [`ImageStore::image_user`]; the caller holds the mounts lock.
    fn mounted_user(&self, image_id: &str) -> Result<Option<String>, Error> {
        let mut users = self.rootfs.list()?.into_iter();
        let mut volumes = self.volumes.list()?.into_iter();
        Ok(users
            .find(|(_, img)| img == image_id)
            .or_else(|| volumes.find(|(_, img)| img == image_id))
            .map(|(container, _)| container))
    }

    /// Mounts image `image_id`'s layers read-only as image volume `volume`
    /// (a plain name, e.g. the mount's index) of container `container_id`
    /// and returns the mount point, which the container binds. The image
    /// cannot be removed until [`ImageStore::remove_rootfs`] took the
    /// container's volumes apart. [`Error::NotFound`] when the image is
    /// absent.
    pub fn mount_image_volume(
        &self,
        container_id: &str,
        volume: &str,
        image_id: &str,
    ) -> Result<PathBuf, Error> {
        let _mounts = self.mounts.lock().unwrap_or_else(|p| p.into_inner());
        let record = self
            .records
            .find(image_id)
            .ok_or_else(|| Error::NotFound(image_id.to_string()))?;
        let lowers = self.lowers(&record)?;
        self.volumes
            .mount(container_id, volume, &record.image.id, &lowers)
    }

    /// The image's layer dirs, top first, as overlay wants them; an error
    /// naming the first one missing from disk.
    fn lowers(&self, record: &ImageRecord) -> Result<Vec<PathBuf>, Error> {
        let lowers: Vec<PathBuf> = record
            .diff_ids()
            .iter()
            .rev()
            .map(|d| self.layers.fs_dir(d))
            .collect();
        if let Some(missing) = lowers.iter().find(|p| !p.is_dir()) {
            return Err(Error::io(
                missing,
                std::io::Error::new(std::io::ErrorKind::NotFound, "layer snapshot missing"),
            ));
        }
        Ok(lowers)
    }

    /// Creates the writable layer of container `container_id` on top of image
    /// `image_id` and mounts the overlay at `target` (which must exist).
    pub fn mount_rootfs(
        &self,
        container_id: &str,
        image_id: &str,
        target: &Path,
    ) -> Result<(), Error> {
        self.mount_rootfs_mapped(container_id, image_id, target, None)
    }

    /// As [`ImageStore::mount_rootfs`]; with `mapping`, for a container in
    /// that user namespace: the image's layers are id-mapped through it
    /// (no file of the image changes) and the writable layer belongs to
    /// its root. [`Error::Mount`] (action `id-map`) when a layer's
    /// filesystem cannot be id-mapped.
    pub fn mount_rootfs_mapped(
        &self,
        container_id: &str,
        image_id: &str,
        target: &Path,
        mapping: Option<&IdMapping<'_>>,
    ) -> Result<(), Error> {
        let _mounts = self.mounts.lock().unwrap_or_else(|p| p.into_inner());
        let record = self
            .records
            .find(image_id)
            .ok_or_else(|| Error::NotFound(image_id.to_string()))?;
        let lowers = self.lowers(&record)?;
        self.rootfs
            .mount(container_id, &record.image.id, &lowers, target, mapping)
    }

    /// Unmounts the image volumes of `container_id` and `target` (if
    /// mounted) and deletes its writable layer: everything the store holds
    /// for the container. Idempotent.
    pub fn remove_rootfs(&self, container_id: &str, target: &Path) -> Result<(), Error> {
        self.writable.forget(container_id);
        self.volumes.unmount_all(container_id)?;
        self.rootfs.unmount(container_id, target)
    }

    /// Unmounts `target`, the rootfs of an exited container, keeping its
    /// writable layer (for its usage, and for [`ImageStore::remove_rootfs`]
    /// or [`ImageStore::discard_rootfs`] to delete). Idempotent.
    pub fn unmount_rootfs(&self, target: &Path) -> Result<(), Error> {
        self.rootfs.unmount_only(target)
    }

    /// As [`ImageStore::remove_rootfs`], but the writable layer is only moved
    /// into the store's trash: the returned entry is for [`Trash::delete`],
    /// off the caller's path (and [`ImageStore::empty_trash`] deletes what a
    /// crash left there). Idempotent.
    pub fn discard_rootfs(
        &self,
        container_id: &str,
        target: &Path,
    ) -> Result<Option<PathBuf>, Error> {
        self.writable.forget(container_id);
        self.volumes.unmount_all(container_id)?;
        self.rootfs.discard(container_id, target, &self.trash)
    }

    /// Deletes the writable layers left in the trash (by a crash before their
    /// deletion), for the daemon's start.
    pub fn empty_trash(&self) -> Result<(), Error> {
        self.trash.empty()
    }

    /// Bytes and inodes of container `container_id`'s writable layer (its
    /// overlay upper dir), for `ContainerStats.writable_layer`. Walked at
    /// most every [`usage::TTL`] per container (cached in between) and
    /// bounded, so a stats call over many containers stays cheap.
    /// [`Error::NoWritableLayer`] when the container has none.
    pub fn writable_usage(&self, container_id: &str) -> Result<Usage, Error> {
        let upper = self.rootfs.upper_dir(container_id)?;
        if !upper.is_dir() {
            self.writable.forget(container_id);
            return Err(Error::NoWritableLayer(container_id.to_string()));
        }
        self.writable.get(container_id, &upper)
    }

    /// What all containers' writable layers occupy together (the CRI
    /// `ImageFsInfo.container_filesystems`). `mountpoint` is the store's
    /// root, as for [`ImageStore::fs_usage`]: the writable layers live on
    /// the image filesystem, and the kubelet reads an equal mountpoint as
    /// "not a separate disk".
    pub fn writable_fs_usage(&self) -> Result<FsUsage, Error> {
        let mut total = Usage::default();
        for (id, _) in self.rootfs.list()? {
            match self.writable_usage(&id) {
                Ok(u) => {
                    total.bytes += u.bytes;
                    total.inodes += u.inodes;
                }
                // Removed meanwhile, or half created: nothing to count.
                Err(Error::NoWritableLayer(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(FsUsage {
            mountpoint: self.root.clone(),
            used_bytes: total.bytes,
            inodes_used: total.inodes,
        })
    }

    /// Ids of the containers that have a writable layer or an image volume
    /// on disk, for the daemon's restart sweep (any it does not know can go
    /// through [`ImageStore::remove_rootfs`]).
    pub fn rootfs_containers(&self) -> Result<Vec<String>, Error> {
        let mut ids: Vec<String> = self.rootfs.list()?.into_iter().map(|(id, _)| id).collect();
        ids.extend(self.volumes.list()?.into_iter().map(|(id, _)| id));
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// The directory that holds this store's snapshots (for leak checks and GC):
    /// `layers/<diff id hex>/fs` per layer, `containers/<id>/{upper,work}` per
    /// container, `volumes/<id>/<volume>/fs` per image volume.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    /// What the images occupy, from the records, never by walking the tree
    /// (for `ImageFsInfo`): unpacked layers plus the compressed blobs kept in
    /// the content store. Container upper dirs are counted by
    /// [`ImageStore::writable_fs_usage`].
    pub fn fs_usage(&self) -> FsUsage {
        let (layer_bytes, layer_inodes) = self.records.snapshot_usage();
        let images = self.records.images();
        FsUsage {
            mountpoint: self.root.clone(),
            used_bytes: layer_bytes + images.iter().map(|i| i.size).sum::<u64>(),
            inodes_used: layer_inodes,
        }
    }
}

/// Disk usage of the image store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsUsage {
    /// The store's root directory (the CRI `FilesystemIdentifier`).
    pub mountpoint: PathBuf,
    /// Bytes used by what was counted.
    pub used_bytes: u64,
    /// Inodes used by what was counted.
    pub inodes_used: u64,
}

/// Names an image gets when it is committed.
struct Names {
    tags: Vec<String>,
    digests: Vec<String>,
}

/// Unpacks one layer on a blocking thread, unless another pull is unpacking
/// it (then waits and reuses that snapshot).
async fn unpack_one(
    layers: LayerSnapshots,
    unpacks: inflight::InFlight,
    blob_path: PathBuf,
    blob: Digest,
    diff_id: Digest,
) -> Result<SnapshotRecord, Error> {
    let _claim = unpacks.claim(&diff_id).await;
    if layers.contains(&diff_id)
        && let Some((size, inodes)) = layers.usage(&diff_id, &blob)
    {
        return Ok(SnapshotRecord {
            diff_id,
            size,
            inodes,
        });
    }
    tokio::task::spawn_blocking(move || {
        let unpacked = layers.unpack(&blob_path, &blob, &diff_id)?;
        fault::point("pull.layer_unpacked");
        Ok(SnapshotRecord {
            diff_id,
            size: unpacked.size,
            inodes: unpacked.inodes,
        })
    })
    .await
    .map_err(|e| Error::Task(format!("unpack: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The daemon awaits these inside gRPC handlers, which must be Send.
    #[allow(dead_code)]
    fn store_futures_are_send(store: &ImageStore) {
        assert_send(&store.pull("x", None));
        assert_send(&store.pull_with_auth("x", None));
        assert_send(&store.remove("x"));
        assert_send(&store.gc());
        assert_send(&store.gc_dry_run(&[]));
        assert_send(&store.remove_collecting("x"));
    }
}
