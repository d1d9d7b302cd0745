//! Image volumes (CRI `Mount.image`, KEP 4639), as containerd 2.1 and CRI-O
//! make them: the kubelet pulls the image first; CreateContainer finds it
//! in the image store (NotFound when absent), has the store mount its
//! layers read-only for this container, and binds that mount at
//! `container_path`, always read-only.
//!
//! The mounts belong to the image store's record of the container
//! (`snapshots/volumes/<id>/`): `ImageStore::remove_rootfs`, which every
//! removal, failed create and restart sweep already calls, takes them
//! apart, and the store refuses to remove an image while a volume shows it
//! (RemoveImage answers FailedPrecondition). One mount per container and
//! volume: nothing is shared across a pod.

use crate::core::error::{Error, Result};
use crate::core::ids::ContainerId;
use cradle_proto::cri;
use cradle_snapshotter::ImageStore;

/// Mounts every image volume of `mounts` for container `container_id` and
/// turns each into a read-only bind of its mount point. Blocking (mounts).
/// A failure leaves the volumes mounted so far to the caller's
/// `remove_rootfs` undo.
pub(super) fn mount_all(
    images: &ImageStore,
    container_id: &ContainerId,
    mounts: &mut [cri::Mount],
) -> Result<()> {
    for (index, m) in mounts.iter_mut().enumerate() {
        let Some(spec) = m.image.take() else {
            continue;
        };
        let dest = &m.container_path;
        if spec.image.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "mount {dest}: image.image is empty"
            )));
        }
        if !m.host_path.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "mount {dest}: both host_path and image are set"
            )));
        }
        let image = images.resolve(&spec.image).ok_or_else(|| {
            Error::ImageNotFound(format!("{} (image volume at {dest})", spec.image))
        })?;
        let path = images
            .mount_image_volume(container_id.as_str(), &index.to_string(), &image.id)
            .map_err(|e| match e {
                // Removed between the lookup and the mount.
                cradle_snapshotter::Error::NotFound(_) => {
                    Error::ImageNotFound(format!("{} (image volume at {dest})", spec.image))
                }
                e => Error::from(e),
            })?;
        tracing::debug!(container = %container_id, image = %image.id, dest, "image volume mounted");
        m.host_path = path.to_string_lossy().into_owned();
        m.readonly = true;
    }
    Ok(())
}
