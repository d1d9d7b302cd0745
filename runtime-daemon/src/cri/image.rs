//! PullImage, ListImages, ImageStatus, RemoveImage.

use super::{CriService, detached, required};
use cradle_proto::cri;
use cradle_snapshotter::{AuthConfig, FsUsage, Image, ImageUser};
use std::sync::Arc;
use tonic::Status;

/// The CRI view of an image record.
fn to_cri(image: Image) -> cri::Image {
    // containerd's rule: a numeric image user is the uid, a name the username.
    let (uid, username) = match image.config.image_user() {
        Some(ImageUser::Uid(uid)) => (Some(cri::Int64Value { value: uid }), String::new()),
        Some(ImageUser::Name(name)) => (None, name),
        None => (None, String::new()),
    };
    cri::Image {
        spec: Some(cri::ImageSpec {
            image: image.id.clone(),
            ..Default::default()
        }),
        id: image.id,
        repo_tags: image.repo_tags,
        repo_digests: image.repo_digests,
        size: image.size,
        uid,
        username,
        pinned: false,
    }
}

/// `ImageStatus(verbose).info["info"]`, for `crictl inspecti`: the image's
/// layers (diff ids, bottom first) and the part of its config the runtime
/// uses.
fn verbose_info(image: &Image) -> std::collections::HashMap<String, String> {
    let info = serde_json::json!({
        "id": image.id,
        "layers": image.layers,
        "config": image.config,
    });
    std::collections::HashMap::from([("info".to_string(), info.to_string())])
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
        let auth = req.auth.map(|a| AuthConfig {
            username: a.username,
            password: a.password,
            auth: a.auth,
            server_address: a.server_address,
            identity_token: a.identity_token,
            registry_token: a.registry_token,
        });
        let (runtime, reference) = (Arc::clone(&self.runtime), reference.to_string());
        let image = detached(async move { runtime.images.pull(&reference, auth).await }).await?;
        Ok(cri::PullImageResponse {
            image_ref: image.id,
        })
    }

    pub(crate) fn list_images_impl(
        &self,
        req: cri::ListImagesRequest,
    ) -> Result<cri::ListImagesResponse, Status> {
        let filter = req.filter.and_then(|f| f.image).map(|i| i.image);
        let images = self.runtime.images.list(filter.as_deref())?;
        Ok(cri::ListImagesResponse {
            images: images.into_iter().map(to_cri).collect(),
        })
    }

    pub(crate) fn image_status_impl(
        &self,
        req: cri::ImageStatusRequest,
    ) -> Result<cri::ImageStatusResponse, Status> {
        let reference = image_name(&req.image)?;
        let image = self.runtime.images.status(reference)?;
        let info = match &image {
            Some(image) if req.verbose => verbose_info(image),
            _ => Default::default(),
        };
        Ok(cri::ImageStatusResponse {
            image: image.map(to_cri),
            info,
        })
    }

    pub(crate) async fn remove_image_impl(
        &self,
        req: cri::RemoveImageRequest,
    ) -> Result<(), Status> {
        let reference = image_name(&req.image)?;
        let (runtime, reference) = (Arc::clone(&self.runtime), reference.to_string());
        detached(async move { runtime.remove_image(&reference).await }).await
    }
}

impl CriService {
    /// On a blocking thread: the writable layers may need a walk (bounded,
    /// cached for a couple of seconds per container), which must not hold
    /// up the runtime's workers.
    pub(crate) async fn image_fs_info_impl(&self) -> Result<cri::ImageFsInfoResponse, Status> {
        let runtime = Arc::clone(&self.runtime);
        let (images, containers) = tokio::task::spawn_blocking(move || {
            let images = &runtime.images;
            Ok::<_, crate::core::error::Error>((images.fs_usage()?, images.writable_fs_usage()?))
        })
        .await
        .map_err(|e| Status::internal(format!("ImageFsInfo task failed: {e}")))??;
        Ok(cri::ImageFsInfoResponse {
            image_filesystems: vec![filesystem_usage(images)],
            container_filesystems: vec![filesystem_usage(containers)],
        })
    }
}

/// The CRI form of one usage figure, stamped now.
fn filesystem_usage(usage: FsUsage) -> cri::FilesystemUsage {
    cri::FilesystemUsage {
        timestamp: crate::core::time::now_ns(),
        fs_id: Some(cri::FilesystemIdentifier {
            mountpoint: usage.mountpoint.to_string_lossy().into_owned(),
        }),
        used_bytes: Some(cri::UInt64Value {
            value: usage.used_bytes,
        }),
        inodes_used: Some(cri::UInt64Value {
            value: usage.inodes_used,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_info_carries_the_layers_and_the_config() {
        let image = Image {
            id: "sha256:c0".into(),
            repo_tags: vec!["busybox:latest".into()],
            repo_digests: Vec::new(),
            size: 1,
            layers: vec!["sha256:l1".into(), "sha256:l2".into()],
            config: cradle_snapshotter::ImageConfig {
                stop_signal: Some("SIGUSR1".into()),
                ..Default::default()
            },
        };
        let info = verbose_info(&image);
        let json: serde_json::Value = serde_json::from_str(&info["info"]).unwrap();
        assert_eq!(json["id"], "sha256:c0");
        assert_eq!(json["layers"][1], "sha256:l2");
        assert_eq!(json["config"]["stop_signal"], "SIGUSR1");
    }
}
