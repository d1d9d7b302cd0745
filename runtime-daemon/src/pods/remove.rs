//! RemovePodSandbox (its containers already removed by the runtime layer):
//! delete the pause shim, unpin the namespaces, forget the sandbox.

use super::manager::SandboxManager;
use super::record::SandboxRecord;
use crate::core::context::Context;
use crate::core::error::{Error, Result};
use crate::core::fault;
use crate::core::fsutil::remove_dir;
use crate::core::ids::SandboxId;
use crate::core::store::Kind;
use crate::platform::namespaces::Pins;
use std::sync::Arc;

impl SandboxManager {
    /// RemovePodSandbox (its containers are already removed): delete the pause
    /// shim, unpin the namespaces, forget the sandbox. Unknown: Ok.
    pub async fn remove(&self, id: &SandboxId) -> Result<()> {
        self.stop(id).await?;
        let Ok((id, entry)) = self.index.get(id) else {
            return Ok(());
        };
        let _op = entry.op.lock().await;
        let record = entry.snapshot();
        let shim = self.ctx.shims.connect(&id.shim(), &record.shim_dir);
        if shim.is_alive().await {
            shim.delete(true).await.map_err(Error::of_shim(shim.id()))?;
            fault::point("remove_pod.shim_deleted");
        }
        remove_pins(&self.ctx, &id, &record.pins).await?;
        fault::point("remove_pod.unpinned");
        remove_dir(&record.shim_dir)?;
        remove_dir(&self.ctx.sandbox_dir(&id))?;
        fault::point("remove_pod.dirs_removed");
        self.ctx.store.delete(Kind::Sandbox, id.as_str())?;
        fault::point("remove_pod.forgotten");
        entry.mark_removed();
        self.index.remove(&id);
        if let Some(name) = SandboxRecord::name_key(&record.config) {
            self.names.release(&name, id.as_str());
        }
        tracing::info!("pod sandbox removed");
        Ok(())
    }
}

/// Unpins the namespaces of sandbox `id` on a blocking thread.
pub(super) async fn remove_pins(ctx: &Context, id: &SandboxId, pins: &Pins) -> Result<()> {
    let (pinner, pins) = (Arc::clone(&ctx.namespaces), pins.clone());
    crate::core::log_span::spawn_blocking(move || pinner.unpin(&pins))
        .await
        .map_err(|e| Error::task("namespace", e))?
        .map_err(|source| Error::Namespaces {
            id: id.to_string(),
            source,
        })
}
