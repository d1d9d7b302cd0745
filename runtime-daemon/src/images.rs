//! Image operations at the runtime level: the image store plus the one rule
//! that needs the container manager (an image in use cannot be removed).

use crate::error::{Error, Result};
use crate::fault;
use crate::runtime::Runtime;
use cradle_snapshotter::{AuthConfig, FsUsage, Image};

impl Runtime {
    /// PullImage: returns the image id (`sha256:<config digest>`).
    pub async fn pull_image(&self, reference: &str, auth: Option<AuthConfig>) -> Result<Image> {
        if reference.is_empty() {
            return Err(Error::InvalidArgument("image.image is required".into()));
        }
        let images = self.ctx.images()?;
        let image = images.pull_with_auth(reference, auth).await?;
        fault::point("pull.recorded");
        tracing::info!(reference, id = %image.id, "image pulled");
        Ok(image)
    }

    /// All images, or the one `filter` resolves to.
    pub fn list_images(&self, filter: Option<&str>) -> Result<Vec<Image>> {
        let images = self.ctx.images()?;
        Ok(match filter.filter(|f| !f.is_empty()) {
            Some(reference) => images.resolve(reference).into_iter().collect(),
            None => images.list(),
        })
    }

    /// ImageStatus: `None` when absent.
    pub fn image_status(&self, reference: &str) -> Result<Option<Image>> {
        if reference.is_empty() {
            return Err(Error::InvalidArgument("image.image is required".into()));
        }
        Ok(self.ctx.images()?.resolve(reference))
    }

    /// RemoveImage: absent is Ok; an image a container uses is refused.
    pub async fn remove_image(&self, reference: &str) -> Result<()> {
        if reference.is_empty() {
            return Err(Error::InvalidArgument("image.image is required".into()));
        }
        let images = self.ctx.images()?;
        let Some(image) = images.resolve(reference) else {
            return Ok(());
        };
        if self.containers.uses_image(&image.id) {
            return Err(Error::FailedPrecondition(format!(
                "image {reference} ({}) is in use by a container",
                image.id
            )));
        }
        images.remove(&image.id).await?;
        tracing::info!(reference, id = %image.id, "image removed");
        Ok(())
    }
}

impl Runtime {
    /// ImageFsInfo: what the image store occupies, from its records.
    pub fn image_fs_usage(&self) -> Result<FsUsage> {
        Ok(self.ctx.images()?.fs_usage())
    }

    /// ImageFsInfo's container filesystem: all writable layers together
    /// (walked at most every couple of seconds per container, cached between).
    pub fn writable_fs_usage(&self) -> Result<FsUsage> {
        Ok(self.ctx.images()?.writable_fs_usage()?)
    }
}
