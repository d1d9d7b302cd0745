//! Image volumes (CRI `Mount.image`, KEP 4639), as containerd 2.1 and CRI-O
//! make them: the kubelet pulls the image first; CreateContainer finds it
//! in the image store (NotFound when absent) and records its id in the
//! mount's `image.image_ref` ([`resolve_images`], before anything is
//! created), so ContainerStatus reports it and the record says which image
//! the container mounts; then the store mounts its layers read-only for
//! this container ([`mount_all`]) and the container binds that mount, or
//! the directory `image_sub_path` names inside it (`sub_path`), at
//! `container_path`, always read-only.
//!
//! The mounts belong to the image store's record of the container
//! (`snapshots/volumes/<id>/`): `ImageStore::remove_rootfs`, which every
//! removal, failed create and restart sweep already calls, takes them
//! apart, and the store refuses to remove an image while a volume shows it
//! (RemoveImage answers FailedPrecondition); the daemon refuses it too
//! while a container record names it (`ContainerManager::image_user`).
//! One mount per container and volume: nothing is shared across a pod.

mod sub_path;

use crate::core::error::{Error, Result};
use crate::core::ids::ContainerId;
use cradle_proto::cri;
use cradle_snapshotter::ImageStore;
use sub_path::SubPathError;

/// Finds the image of every image volume of `mounts` in the store and
/// records its id as the mount's `image.image_ref`. ImageNotFound naming
/// the mount when one is absent. Nothing is created.
pub(super) fn resolve_images(images: &ImageStore, mounts: &mut [cri::Mount]) -> Result<()> {
    for (index, m) in mounts.iter_mut().enumerate() {
        let dest = m.container_path.clone();
        let Some(spec) = m.image.as_mut() else {
            continue;
        };
        if spec.image.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "config.mounts[{index}] ({dest}): image.image is empty"
            )));
        }
        let image = images.resolve(&spec.image).ok_or_else(|| {
            Error::ImageNotFound(format!(
                "{} (image volume config.mounts[{index}] at {dest})",
                spec.image
            ))
        })?;
        spec.image_ref = image.id;
    }
    Ok(())
}

/// Mounts every image volume of `mounts` (resolved by [`resolve_images`])
/// for container `container_id` and turns each into a read-only bind of
/// its mount point, or of the directory its `image_sub_path` names in it.
/// Blocking (mounts). A failure leaves the volumes mounted so far to the
/// caller's `remove_rootfs` undo.
pub(super) fn mount_all(
    images: &ImageStore,
    container_id: &ContainerId,
    mounts: &mut [cri::Mount],
) -> Result<()> {
    for (index, m) in mounts.iter_mut().enumerate() {
        let Some(spec) = m.image.take() else {
            continue;
        };
        let dest = m.container_path.clone();
        if !m.host_path.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "config.mounts[{index}] ({dest}): both host_path and image are set"
            )));
        }
        let not_found = || {
            Error::ImageNotFound(format!(
                "{} (image volume config.mounts[{index}] at {dest})",
                spec.image
            ))
        };
        let image_id = if spec.image_ref.is_empty() {
            images.resolve(&spec.image).ok_or_else(not_found)?.id
        } else {
            spec.image_ref.clone()
        };
        let volume = images
            .mount_image_volume(container_id.as_str(), &index.to_string(), &image_id)
            .map_err(|e| match e {
                // Removed between the lookup and the mount.
                cradle_snapshotter::Error::NotFound(_) => not_found(),
                e => Error::from(e),
            })?;
        let source = sub_path::resolve(&volume, &m.image_sub_path)
            .map_err(|e| sub_path_error(index, &dest, e))?;
        tracing::debug!(
            container = %container_id, image = %image_id, dest, sub_path = m.image_sub_path,
            "image volume mounted"
        );
        m.host_path = source.to_string_lossy().into_owned();
        m.readonly = true;
    }
    Ok(())
}

/// A sub path the image cannot give is the request's fault
/// (InvalidArgument naming the field); a failing system call is not.
fn sub_path_error(index: usize, dest: &str, e: SubPathError) -> Error {
    let field = format!("config.mounts[{index}].image_sub_path ({dest})");
    match e {
        SubPathError::Resolve { .. } => Error::Other {
            context: field,
            source: Box::new(e),
        },
        e => Error::InvalidArgument(format!("{field}: {e}")),
    }
}
