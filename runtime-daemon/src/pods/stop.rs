//! StopPodSandbox (its containers already stopped by the runtime layer):
//! detach the network, kill the pause process, record NOTREADY.

use super::manager::SandboxManager;
use super::record::{SandboxRecord, SandboxState};
use crate::core::error::{Error, Result};
use crate::core::fault;
use crate::core::ids::SandboxId;
use crate::core::store::Kind;
use crate::platform::cni;
use std::sync::Arc;
use std::time::Duration;

/// How long a killed pause process may take to be reaped.
const PAUSE_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

impl SandboxManager {
    /// StopPodSandbox (its containers are already stopped): kill the pause process.
    pub async fn stop(&self, id: &SandboxId) -> Result<()> {
        let Ok((id, entry)) = self.index.get(id) else {
            return Ok(());
        };
        let _op = entry.op.lock().await;
        let record = entry.snapshot();
        if record.network_attached {
            self.detach_network(&record).await?;
            fault::point("stop_pod.network_detached");
            let record = entry.update(|r| r.network_attached = false);
            self.ctx.store.put(Kind::Sandbox, id.as_str(), &record)?;
        }
        if record.state == SandboxState::NotReady {
            return Ok(());
        }
        let shim = self.ctx.shims.connect(&id.shim(), &record.shim_dir);
        if shim.is_alive().await {
            let shim_err = Error::of_shim(shim.id());
            shim.kill(libc::SIGKILL, false).await.map_err(&shim_err)?;
            shim.wait(Some(PAUSE_EXIT_TIMEOUT))
                .await
                .map_err(&shim_err)?;
            fault::point("stop_pod.pause_killed");
        }
        let record = entry.update(|r| r.state = SandboxState::NotReady);
        self.ctx.store.put(Kind::Sandbox, id.as_str(), &record)?;
        fault::point("stop_pod.recorded");
        tracing::info!("pod sandbox stopped");
        Ok(())
    }

    /// CNI DEL of a sandbox (from the cache when the configuration is gone).
    async fn detach_network(&self, record: &SandboxRecord) -> Result<()> {
        let Some(netns) = &record.pins.net else {
            return Ok(());
        };
        let net_err = |source| Error::Network {
            id: record.id.clone(),
            source,
        };
        let pod = cni::pod_network(&record.typed_id(), netns, &record.config).map_err(net_err)?;
        let network = Arc::clone(&self.ctx.network);
        crate::core::log_span::spawn_blocking(move || network.detach(&pod))
            .await
            .map_err(|e| Error::task("network", e))?
            .map_err(net_err)?;
        tracing::info!("pod network detached");
        Ok(())
    }
}
