//! The admin socket's garbage collection (`cradlectl gc`): every image no
//! container uses is removed through the path RemoveImage takes (so its
//! refusals hold: an image a container record names, or one under a
//! mounted rootfs or image volume, is kept with the reason), then the image
//! store deletes the blobs and layer snapshots nothing references. A dry
//! run removes and deletes nothing and answers what would go.

use cradle_snapshotter::{Collected, GcReport};
use serde::{Deserialize, Serialize};

use crate::runtime::Runtime;

/// The answer to a gc request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcOutcome {
    /// Nothing was removed: the lists say what would be.
    pub dry_run: bool,
    /// The images removed (or that would be).
    pub removed: Vec<GcImage>,
    /// The images kept, with why (in use).
    pub kept: Vec<KeptImage>,
    /// The content-store blobs deleted (or that would be).
    pub blobs: Vec<Collected>,
    /// The layer snapshots deleted (or that would be).
    pub snapshots: Vec<Collected>,
    /// The bytes of those blobs and snapshots.
    pub bytes: u64,
}

/// An image removed (or that a dry run would remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcImage {
    /// The image id.
    pub id: String,
    /// Its tags.
    pub repo_tags: Vec<String>,
    /// Its size as ListImages reports it.
    pub size: u64,
}

/// An image gc kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptImage {
    /// The image id.
    pub id: String,
    /// Its tags.
    pub repo_tags: Vec<String>,
    /// Why it stays (the container that uses it).
    pub reason: String,
}

/// Removes the images no container uses and collects the store (or, with
/// `dry_run`, only says what that would do).
pub async fn collect(runtime: &Runtime, dry_run: bool) -> Result<GcOutcome, String> {
    let store = runtime.ctx.images().map_err(|e| e.chain().to_string())?;
    let mut outcome = GcOutcome {
        dry_run,
        ..GcOutcome::default()
    };
    let mut freed = GcReport::default();
    for image in store.list() {
        let user = if dry_run {
            // What RemoveImage would refuse: a container record naming it,
            // or a rootfs or image volume mounted from it.
            match runtime.containers.image_user(&image.id) {
                Some(user) => Some(user),
                None => store
                    .image_user(&image.id)
                    .map_err(|e| e.to_string())?
                    .map(|c| format!("container {c} (mounted)")),
            }
        } else {
            let removal = runtime
                .images
                .remove_collecting(&image.id, |id| runtime.containers.image_user(id))
                .await;
            match removal {
                Ok(report) => {
                    freed.merge(report);
                    None
                }
                Err(e) => Some(e.chain().to_string()),
            }
        };
        match user {
            Some(reason) => outcome.kept.push(KeptImage {
                id: image.id,
                repo_tags: image.repo_tags,
                reason,
            }),
            None => outcome.removed.push(GcImage {
                id: image.id,
                repo_tags: image.repo_tags,
                size: image.size,
            }),
        }
    }
    let collected = if dry_run {
        let ids: Vec<String> = outcome.removed.iter().map(|i| i.id.clone()).collect();
        store.gc_dry_run(&ids).await
    } else {
        store.gc().await
    };
    freed.merge(collected.map_err(|e| e.to_string())?);
    outcome.bytes = freed.bytes();
    outcome.blobs = freed.blobs;
    outcome.snapshots = freed.snapshots;
    tracing::info!(
        dry_run,
        images = outcome.removed.len(),
        blobs = outcome.blobs.len(),
        snapshots = outcome.snapshots.len(),
        bytes = outcome.bytes,
        "image gc"
    );
    Ok(outcome)
}
