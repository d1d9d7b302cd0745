//! The exit monitor: one task per running container, parked on the shim's `Wait`.

use super::{ContainerRecord, lost, record_exit};
use crate::index::Entry;
use crate::runtime::Context;
use crate::shim_client::ShimClient;
use std::sync::Arc;

/// Waits for the container's exit and records it. If the connection breaks
/// (the shim died or was deleted), kills what the container still runs and
/// falls back to the shim's exit record (see [`super::lost`]).
pub async fn watch(ctx: Arc<Context>, entry: Arc<Entry<ContainerRecord>>) {
    let record = entry.snapshot();
    let shim = ShimClient::new(&record.id, &record.shim_dir);
    match shim.wait(None).await {
        Ok(exit) => {
            tracing::info!(container = %record.id, code = exit.exit_code, "container exited");
            if let Err(e) = record_exit(&ctx, &entry, Some(&exit), "") {
                tracing::error!(container = %record.id, "persisting exit: {e}");
            }
        }
        Err(e) => {
            if entry.is_removed() {
                return;
            }
            tracing::warn!(container = %record.id, "lost the shim while waiting: {e}");
            let why = format!("lost the shim: {e}");
            if let Err(e) = lost(&ctx, &entry, &shim, &why).await {
                tracing::error!(container = %record.id, "ending the container of a lost shim: {e}");
            }
        }
    }
}
