//! The operations that span pods and containers, at the top of the manager
//! layer.
//!
//! [`Runtime`] owns the managers and sequences what touches more than one
//! (stopping a pod stops its containers first, creating a container reads
//! its pod, an image in use cannot be removed), and at start runs the
//! [`recovery`] of every known object and the [`sweep`] of what no record
//! owns. The managers never import it.

pub mod recovery;
#[cfg(test)]
mod recovery_tests;
mod spans;
pub mod sweep;

use crate::containers::ContainerManager;
use crate::core::config::Config;
use crate::core::context::Context;
use crate::core::error::{Error, Result};
use crate::core::ids::{ContainerId, SandboxId};
use crate::core::index::Entry;
use crate::images::ImageManager;
use crate::pods::{SandboxManager, SandboxRecord};
use cradle_proto::cri;
use std::sync::Arc;
use tracing::Instrument as _;

/// The pod and container managers and the operations spanning both.
pub struct Runtime {
    /// The handles every manager shares.
    pub ctx: Arc<Context>,
    /// Owns every sandbox.
    pub pods: SandboxManager,
    /// Owns every container.
    pub containers: ContainerManager,
    /// Pulls, lists and removes images.
    pub images: ImageManager,
    /// Previous CPU samples, for usage rates.
    pub cpu: crate::stats::CpuTracker,
}

impl Runtime {
    /// Opens the stores, recovers the state of every known object and sweeps
    /// what no record owns.
    pub async fn start(config: Config) -> Result<Arc<Self>> {
        // Some steps are the image store's and the CNI client's: they report
        // them to our fault points.
        #[cfg(debug_assertions)]
        {
            cradle_snapshotter::fault::set_hook(crate::core::fault::point);
            cradle_cni::fault::set_hook(crate::core::fault::point);
        }
        let ctx = Arc::new(Context::open(config)?);
        let runtime = Arc::new(Runtime {
            pods: SandboxManager::new(Arc::clone(&ctx)),
            containers: ContainerManager::new(Arc::clone(&ctx)),
            images: ImageManager::new(Arc::clone(&ctx)),
            cpu: crate::stats::CpuTracker::default(),
            ctx,
        });
        recovery::recover(&runtime.ctx, &runtime.pods, &runtime.containers).await?;
        sweep::sweep(&runtime.ctx, &runtime.pods, &runtime.containers).await;
        // Content and layers left by interrupted pulls (none run yet).
        if let Ok(images) = runtime.ctx.images()
            && let Err(e) = images.gc().await
        {
            tracing::warn!("image store gc: {e}");
        }
        Ok(runtime)
    }

    /// StopPodSandbox: its containers first, then the pause process. Unknown: Ok.
    pub async fn stop_pod_sandbox(&self, id: &SandboxId) -> Result<()> {
        let Some(entry) = self.known_pod(id)? else {
            return Ok(());
        };
        let _members = entry.members.write().await;
        self.stop_pod_and_its_containers(&entry.snapshot().typed_id())
            .await
    }

    /// RemovePodSandbox: stop, remove its containers, then the pod. Unknown: Ok.
    pub async fn remove_pod_sandbox(&self, id: &SandboxId) -> Result<()> {
        let Some(entry) = self.known_pod(id)? else {
            return Ok(());
        };
        let _members = entry.members.write().await;
        let id = entry.snapshot().typed_id();
        // Stop the whole pod first (containers, network, pause), as StopPodSandbox.
        self.stop_pod_and_its_containers(&id).await?;
        for container in self.containers.ids_in_sandbox(&id) {
            let span = self.container_span(&container);
            self.containers.remove(&container).instrument(span).await?;
        }
        self.pods.remove(&id).await
    }

    /// The entry of sandbox `id`; `None` when no sandbox has that id, which
    /// Stop and Remove take as done.
    fn known_pod(&self, id: &SandboxId) -> Result<Option<Arc<Entry<SandboxRecord>>>> {
        match self.pods.entry(id) {
            Ok(entry) => Ok(Some(entry)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stops every container of sandbox `id`, then the sandbox (network and
    /// pause); the caller holds the sandbox's membership lock.
    async fn stop_pod_and_its_containers(&self, id: &SandboxId) -> Result<()> {
        for container in self.containers.ids_in_sandbox(id) {
            let span = self.container_span(&container);
            self.containers.stop(&container, 0).instrument(span).await?;
        }
        self.pods.stop(id).await
    }

    /// CreateContainer in a ready sandbox; the sandbox cannot be stopped meanwhile.
    pub async fn create_container(
        &self,
        sandbox_id: &SandboxId,
        config: cri::ContainerConfig,
    ) -> Result<ContainerId> {
        let entry = self.pods.entry(sandbox_id)?;
        let _members = entry.members.read().await;
        let sandbox = entry.snapshot();
        if entry.is_removed() {
            return Err(Error::NotFound {
                kind: "sandbox",
                id: sandbox.id,
            });
        }
        self.containers.create(&sandbox, config).await
    }

    /// RemoveImage: absent is Ok; an image a container uses is refused.
    pub async fn remove_image(&self, reference: &str) -> Result<()> {
        self.images
            .remove(reference, |id| self.containers.image_user(id))
            .await
    }
}
