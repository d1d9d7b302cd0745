//! PullImage, ListImages, ImageStatus, RemoveImage.

use super::{CriService, required};
use cradle_proto::cri;
use cradle_snapshotter::{Credentials, Image};
use tonic::Status;

/// The CRI view of an image record.
fn to_cri(image: Image) -> cri::Image {
    cri::Image {
        spec: Some(cri::ImageSpec {
            image: image.id.clone(),
            ..Default::default()
        }),
        id: image.id,
        repo_tags: image.repo_tags,
        repo_digests: image.repo_digests,
        size: image.size,
        uid: None,
        username: image.config.user.unwrap_or_default(),
        pinned: false,
    }
}

fn image_name(spec: &Option<cri::ImageSpec>) -> Result<&str, Status> {
    required(
        spec.as_ref().map(|s| s.image.as_str()).unwrap_or(""),
        "image.image",
    )
}

impl CriService {
    pub(crate) async fn pull_image_impl(
        &self,
        req: cri::PullImageRequest,
    ) -> Result<cri::PullImageResponse, Status> {
        let reference = image_name(&req.image)?;
        // TODO(auth): the base64 `auth` field and identity tokens.
        let auth = req
            .auth
            .filter(|a| !a.username.is_empty() || !a.password.is_empty())
            .map(|a| Credentials {
                username: a.username,
                password: a.password,
            });
        let image = self.runtime.pull_image(reference, auth).await?;
        Ok(cri::PullImageResponse {
            image_ref: image.id,
        })
    }

    pub(crate) fn list_images_impl(
        &self,
        req: cri::ListImagesRequest,
    ) -> Result<cri::ListImagesResponse, Status> {
        let filter = req.filter.and_then(|f| f.image).map(|i| i.image);
        let images = self.runtime.list_images(filter.as_deref())?;
        Ok(cri::ListImagesResponse {
            images: images.into_iter().map(to_cri).collect(),
        })
    }

    pub(crate) fn image_status_impl(
        &self,
        req: cri::ImageStatusRequest,
    ) -> Result<cri::ImageStatusResponse, Status> {
        let reference = image_name(&req.image)?;
        let image = self.runtime.image_status(reference)?;
        Ok(cri::ImageStatusResponse {
            image: image.map(to_cri),
            info: Default::default(),
        })
    }

    pub(crate) async fn remove_image_impl(
        &self,
        req: cri::RemoveImageRequest,
    ) -> Result<(), Status> {
        let reference = image_name(&req.image)?;
        Ok(self.runtime.remove_image(reference).await?)
    }
}
