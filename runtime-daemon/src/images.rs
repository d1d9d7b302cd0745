//! The image manager: pulls, lists, resolves and removes images in the
//! image store. The one rule that needs the container manager (an image in
//! use cannot be removed) is the runtime layer's, which passes it in.

use crate::core::context::Context;
use crate::core::error::{Error, Result};
use crate::core::fault;
use cradle_snapshotter::{AuthConfig, FsUsage, GcReport, Image};
use std::sync::Arc;

/// Image operations over the context's image store.
pub struct ImageManager {
    ctx: Arc<Context>,
}

impl ImageManager {
    /// A manager over the image store of `ctx` (which may be unavailable:
    /// every operation then says why).
    pub fn new(ctx: Arc<Context>) -> Self {
        ImageManager { ctx }
    }

    /// PullImage: returns the image id (`sha256:<config digest>`).
    pub async fn pull(&self, reference: &str, auth: Option<AuthConfig>) -> Result<Image> {
        if reference.is_empty() {
            return Err(Error::InvalidArgument("image.image is required".into()));
        }
        let images = self.ctx.images()?;
        let started = std::time::Instant::now();
        let pulled = images.pull_with_auth(reference, auth).await;
        if let Some(metrics) = crate::metrics::registry::get() {
            let outcome = pulled.as_ref().map(|image| image.size).map_err(|_| ());
            metrics.image_pull(outcome, started.elapsed());
        }
        let image = pulled?;
        fault::point("pull.recorded");
        tracing::info!(reference, id = %image.id, "image pulled");
        Ok(image)
    }

    /// All images, or the one `filter` resolves to.
    pub fn list(&self, filter: Option<&str>) -> Result<Vec<Image>> {
        let images = self.ctx.images()?;
        Ok(match filter.filter(|f| !f.is_empty()) {
            Some(reference) => images.resolve(reference).into_iter().collect(),
            None => images.list(),
        })
    }

    /// ImageStatus: `None` when absent.
    pub fn status(&self, reference: &str) -> Result<Option<Image>> {
        if reference.is_empty() {
            return Err(Error::InvalidArgument("image.image is required".into()));
        }
        Ok(self.ctx.images()?.resolve(reference))
    }

    /// RemoveImage: absent is Ok; an image `user` (given its id) names a
    /// user of is refused (FailedPrecondition naming it), as is one the
    /// store finds under a mounted rootfs or image volume.
    pub async fn remove(
        &self,
        reference: &str,
        user: impl FnOnce(&str) -> Option<String>,
    ) -> Result<()> {
        self.remove_collecting(reference, user).await.map(|_| ())
    }

    /// [`ImageManager::remove`], reporting the blobs and layer snapshots
    /// the removal deleted (for the admin socket's gc).
    pub async fn remove_collecting(
        &self,
        reference: &str,
        user: impl FnOnce(&str) -> Option<String>,
    ) -> Result<GcReport> {
        if reference.is_empty() {
            return Err(Error::InvalidArgument("image.image is required".into()));
        }
        let images = self.ctx.images()?;
        let Some(image) = images.resolve(reference) else {
            return Ok(GcReport::default());
        };
        if let Some(user) = user(&image.id) {
            return Err(Error::FailedPrecondition(format!(
                "image {reference} ({}) is in use by {user}",
                image.id
            )));
        }
        let freed = images.remove_collecting(&image.id).await?;
        tracing::info!(reference, id = %image.id, "image removed");
        Ok(freed)
    }

    /// ImageFsInfo: what the image store occupies, from its records.
    pub fn fs_usage(&self) -> Result<FsUsage> {
        Ok(self.ctx.images()?.fs_usage())
    }

    /// ImageFsInfo's container filesystem: all writable layers together
    /// (walked at most every couple of seconds per container, cached between).
    pub fn writable_fs_usage(&self) -> Result<FsUsage> {
        Ok(self.ctx.images()?.writable_fs_usage()?)
    }
}
