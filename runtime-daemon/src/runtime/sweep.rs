//! The orphan sweep at start: what a crash left behind that no record owns.
//!
//! Records are written only once an object is complete, so a daemon that dies
//! mid-create leaves pieces without a record: namespace pins under
//! `<state-dir>/ns/`, CNI attachments (collected with CNI GC when their
//! result was cached, released with a CNI DEL before their namespace is
//! unpinned when the daemon died before it could cache it), shims and their state under `<state-dir>/shims/`,
//! sandbox files under `<root>/sandboxes/`, the trash of removed containers'
//! files (`<root>/trash`, `<root>/snapshots/trash`), and container dirs (with a mounted rootfs) under `<root>/containers/`. After
//! recovery has loaded every record, anything there that no record names is
//! taken apart, each piece with its own undo.

use crate::containers::ContainerManager;
use crate::core::context::Context;
use crate::core::error::Error;
use crate::core::fsutil::remove_dir;
use crate::core::ids::{ContainerId, SandboxId, ShimId};
use crate::pods::SandboxManager;
use cradle_snapshotter::ImageStore;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Subdirectories of `dir` whose names are not in `known`.
fn orphans(dir: &Path, known: &HashSet<String>) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (!known.contains(&name)).then(|| (name, e.path()))
        })
        .collect()
}

/// CNI DEL of a sandbox that has no record, with what is known of it: its
/// id, its pinned network namespace, the default interface name and the
/// current configuration (or its cached one). A daemon killed between the
/// plugins' ADD and the write of the result cache leaves such an
/// attachment: its IP reservation and NAT rules are only found this way
/// (the plugins' own GC runs for CNI 1.1.0 configurations only). A DEL of
/// what was never added is a no-op, as the CNI spec requires.
async fn release_network(ctx: &Context, id: &SandboxId, netns: &Path) -> Result<(), Error> {
    let network = Arc::clone(&ctx.network);
    let pod = cradle_cni::PodNetwork::new(id.as_str(), netns);
    tokio::task::spawn_blocking(move || network.detach(&pod))
        .await
        .map_err(|e| Error::task("network", e))?
        .map_err(|source| Error::Network {
            id: id.to_string(),
            source,
        })?;
    tracing::info!(pod_id = %id, "sweep: released the network of an orphan sandbox");
    Ok(())
}

/// Removes every orphan, one kind of leftover after another; failures are
/// logged, never fatal.
pub async fn sweep(ctx: &Arc<Context>, pods: &SandboxManager, containers: &ContainerManager) {
    let sandboxes: HashSet<String> = pods.list().into_iter().map(|s| s.id).collect();
    let containers: HashSet<String> = containers.list().into_iter().map(|c| c.id).collect();
    let everything: HashSet<String> = sandboxes.union(&containers).cloned().collect();
    orphan_shims(ctx, &everything).await;
    // CNI attachments of pods that no record owns (or that were detached
    // without the DEL finishing), while their namespace pins still exist.
    collect_attachments(ctx, pods).await;
    orphan_pins(ctx, &sandboxes).await;
    orphan_sandbox_files(ctx, &sandboxes);
    // Files of removed containers whose deletion a crash interrupted.
    let trash_ctx = Arc::clone(ctx);
    if let Err(e) =
        tokio::task::spawn_blocking(move || crate::containers::empty_trash(&trash_ctx)).await
    {
        tracing::error!("sweep: trash task: {e}");
    }
    let images = match ctx.images() {
        Ok(images) => images,
        Err(e) => {
            tracing::warn!("sweep: container dirs left alone: {}", e.chain());
            return;
        }
    };
    orphan_writable_layers(ctx, &images, &containers).await;
    orphan_container_dirs(ctx, &images, &containers).await;
}

/// Shims (and their state dirs) of objects no record names: deleted if
/// they still serve, then their dirs removed.
async fn orphan_shims(ctx: &Context, known: &HashSet<String>) {
    for (id, dir) in orphans(&ctx.config.state_dir.join("shims"), known) {
        tracing::warn!(id, "sweeping orphan shim state {}", dir.display());
        let shim = ctx.shims.connect(&ShimId::new(id.clone()), &dir);
        if shim.is_alive().await
            && let Err(e) = shim.delete(true).await.map_err(Error::of_shim(shim.id()))
        {
            tracing::error!(id, "sweep: deleting orphan shim: {}", e.chain());
            continue;
        }
        if let Err(e) = remove_dir(&dir) {
            tracing::error!(id, "sweep: {}", e.chain());
        }
    }
}

/// CNI GC: every cached attachment of a pod not recorded as attached.
async fn collect_attachments(ctx: &Context, pods: &SandboxManager) {
    let attached: Vec<String> = pods
        .list()
        .into_iter()
        .filter(|s| s.network_attached)
        .map(|s| s.id)
        .collect();
    let network = Arc::clone(&ctx.network);
    let result = tokio::task::spawn_blocking(move || network.gc(&attached)).await;
    if !matches!(result, Ok(Ok(()))) {
        tracing::error!("sweep: CNI GC failed: {result:?}");
    }
}

/// Namespace pins of sandboxes no record names: their network released
/// first (kept for the next start if that fails), then unpinned.
async fn orphan_pins(ctx: &Context, sandboxes: &HashSet<String>) {
    for (id, dir) in orphans(&ctx.config.state_dir.join("ns"), sandboxes) {
        tracing::warn!(pod_id = %id, "sweeping orphan namespace pins {}", dir.display());
        let pins = ctx.namespaces.found(&dir);
        if let Some(netns) = &pins.net
            && let Err(e) = release_network(ctx, &SandboxId::new(id.clone()), netns).await
        {
            // Unpinned, the attachment could never be found again: keep the
            // pins so the next start retries.
            tracing::error!(
                pod_id = %id,
                "sweep: CNI DEL failed, keeping the namespace pins: {}",
                e.chain()
            );
            continue;
        }
        let pinner = Arc::clone(&ctx.namespaces);
        let result = tokio::task::spawn_blocking(move || pinner.unpin(&pins)).await;
        if !matches!(result, Ok(Ok(()))) {
            tracing::error!(pod_id = %id, "sweep: unpinning failed: {result:?}");
        }
    }
}

/// The files (hostname, hosts, resolv.conf) of sandboxes no record names.
fn orphan_sandbox_files(ctx: &Context, sandboxes: &HashSet<String>) {
    for (id, dir) in orphans(&ctx.config.root.join("sandboxes"), sandboxes) {
        tracing::warn!(pod_id = %id, "sweeping orphan sandbox files {}", dir.display());
        if let Err(e) = remove_dir(&dir) {
            tracing::error!(pod_id = %id, "sweep: {}", e.chain());
        }
    }
}

/// Writable layers of containers that have no directory left either (a
/// layer under a container dir goes with its dir, below).
async fn orphan_writable_layers(
    ctx: &Context,
    images: &Arc<ImageStore>,
    containers: &HashSet<String>,
) {
    let ids = match images.rootfs_containers() {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!("sweep: listing writable layers: {e}");
            return;
        }
    };
    for id in ids.into_iter().filter(|id| !containers.contains(id)) {
        let rootfs = ctx
            .container_dir(&ContainerId::new(id.clone()))
            .join("bundle")
            .join("rootfs");
        if rootfs.exists() {
            continue; // handled with its directory below
        }
        tracing::warn!(container_id = %id, "sweeping orphan writable layer");
        let (store, cid) = (Arc::clone(images), id.clone());
        let result = tokio::task::spawn_blocking(move || store.remove_rootfs(&cid, &rootfs)).await;
        if !matches!(result, Ok(Ok(()))) {
            tracing::error!(container_id = %id, "sweep: removing writable layer failed: {result:?}");
        }
    }
}

/// Container dirs no record names: their rootfs unmounted and removed
/// first (the dir is kept if that fails), then the dir.
async fn orphan_container_dirs(
    ctx: &Context,
    images: &Arc<ImageStore>,
    containers: &HashSet<String>,
) {
    for (id, dir) in orphans(&ctx.config.root.join("containers"), containers) {
        tracing::warn!(container_id = %id, "sweeping orphan container dir {}", dir.display());
        let rootfs = dir.join("bundle").join("rootfs");
        let (store, cid) = (Arc::clone(images), id.clone());
        let result = tokio::task::spawn_blocking(move || store.remove_rootfs(&cid, &rootfs)).await;
        if !matches!(result, Ok(Ok(()))) {
            // Never delete through a mounted overlay.
            tracing::error!(
                container_id = %id,
                "sweep: removing rootfs failed, keeping {}: {result:?}",
                dir.display()
            );
            continue;
        }
        if let Err(e) = remove_dir(&dir) {
            tracing::error!(container_id = %id, "sweep: {}", e.chain());
        }
    }
}
