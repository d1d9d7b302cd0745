//! The exit monitor: one task per running container, parked on the shim's
//! `Wait`. At the exit it also unmounts the container's rootfs, as
//! containerd unmounts at task exit: nothing needs the rootfs of an exited
//! container (CRI never restarts one; its logs live elsewhere; its writable
//! layer's usage is read from the upper dir), and RemoveContainer then has
//! no unmount to wait for (it still unmounts what is mounted, e.g. after a
//! daemon that was down at the exit).

use super::exit::record_exit;
use super::lost::lost;
use super::record::ContainerRecord;
use crate::core::context::Context;
use crate::core::error::Error;
use crate::core::index::Entry;
use std::sync::Arc;
use tracing::Instrument as _;

/// Waits for the container's exit and records it. If the connection breaks
/// (the shim died or was deleted), kills what the container still runs and
/// falls back to the shim's exit record (see `super::lost`). Its lines are
/// under the container's span, a root one: the task outlives the call that
/// started it.
pub async fn watch(ctx: Arc<Context>, entry: Arc<Entry<ContainerRecord>>) {
    let span = entry.snapshot().log_span(None);
    wait_for_exit(ctx, entry).instrument(span).await
}

/// [`watch`], in the container's span.
async fn wait_for_exit(ctx: Arc<Context>, entry: Arc<Entry<ContainerRecord>>) {
    let record = entry.snapshot();
    let shim = ctx
        .shims
        .connect(&record.typed_id().shim(), &record.shim_dir);
    match shim.wait(None).await.map_err(Error::of_shim(shim.id())) {
        Ok(exit) => {
            tracing::info!(code = exit.exit_code, "container exited");
            if let Err(e) = record_exit(&ctx, &entry, Some(&exit), "") {
                tracing::error!("persisting exit: {}", e.chain());
            }
            unmount_rootfs(&ctx, &record).await;
        }
        Err(e) => {
            if entry.is_removed() {
                return;
            }
            tracing::warn!("lost the shim while waiting: {}", e.chain());
            let why = format!("lost the shim: {}", e.chain());
            if let Err(e) = lost(&ctx, &entry, shim.as_ref(), &why).await {
                tracing::error!("ending the container of a lost shim: {}", e.chain());
            }
        }
    }
}

/// Unmounts the rootfs of the exited container; a failure is logged and
/// left to RemoveContainer, which unmounts again.
async fn unmount_rootfs(ctx: &Context, record: &ContainerRecord) {
    let images = match ctx.images() {
        Ok(images) => images,
        Err(e) => {
            tracing::warn!("rootfs left mounted until removal: {}", e.chain());
            return;
        }
    };
    let rootfs = record.rootfs();
    let result =
        crate::core::log_span::spawn_blocking(move || images.unmount_rootfs(&rootfs)).await;
    match result {
        Ok(Ok(())) => tracing::debug!("rootfs unmounted at exit"),
        Ok(Err(e)) => {
            tracing::warn!("rootfs left mounted until removal: {e}")
        }
        Err(e) => tracing::warn!("rootfs unmount task: {e}"),
    }
}
