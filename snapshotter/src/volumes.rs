//! Image volumes (CRI `Mount.image`, KEP 4639): an image's layers mounted
//! read-only for one container, which the daemon then binds into it.
//!
//! Layout: `<root>/snapshots/volumes/<container id>/<volume>/{image,fs,empty}`.
//! `image` records the image the volume shows (so the store refuses to
//! remove it, even after a restart), `fs` is the mount point of the
//! read-only overlay of its layers, and `empty` the extra empty lower dir a
//! one-layer image needs (overlay wants two lower dirs when it has no upper
//! dir). Everything of a container's volumes lives under its directory, so
//! [`ImageVolumes::unmount_all`] can take them apart from the disk alone,
//! after a crash as after a normal removal. One mount per container and
//! volume, not shared across a pod: a container's removal never waits for
//! another's.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::rootfs::{plain_name, unmount_if_mounted};
use crate::snapshots::remove_dir_if_exists;

/// The image volumes of the containers of one store.
#[derive(Debug, Clone)]
pub struct ImageVolumes {
    volumes: PathBuf,
}

impl ImageVolumes {
    /// Creates `<snapshots>/volumes` if needed.
    pub fn open(snapshots: &Path) -> Result<Self, Error> {
        let volumes = snapshots.join("volumes");
        fs::create_dir_all(&volumes).map_err(|e| Error::io(&volumes, e))?;
        Ok(ImageVolumes { volumes })
    }

    fn container_dir(&self, container_id: &str) -> Result<PathBuf, Error> {
        Ok(self.volumes.join(plain_name(container_id)?))
    }

    /// Mounts `lowers` (top first) of image `image_id` read-only as volume
    /// `volume` of `container_id`; returns the mount point. Undoes
    /// everything on failure.
    pub fn mount(
        &self,
        container_id: &str,
        volume: &str,
        image_id: &str,
        lowers: &[PathBuf],
    ) -> Result<PathBuf, Error> {
        if lowers.is_empty() {
            return Err(Error::BadImage {
                reference: image_id.to_string(),
                what: "layer list",
                reason: "image has no layers".into(),
            });
        }
        let parent = self.container_dir(container_id)?;
        let dir = parent.join(plain_name(volume)?);
        fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let result = mount_in(&dir, image_id, lowers);
        if result.is_err() {
            if let Err(e) = remove_dir_if_exists(&dir) {
                tracing::warn!(error = %e, "cannot undo image volume dir");
            }
            // The container's dir goes too when this was its only volume.
            let _ = fs::remove_dir(&parent);
        }
        result
    }

    /// Unmounts every image volume of `container_id` and deletes their
    /// directories. Idempotent; a volume that cannot be unmounted is kept
    /// (never deleted through a mount) and reported.
    pub fn unmount_all(&self, container_id: &str) -> Result<(), Error> {
        let parent = self.container_dir(container_id)?;
        let entries = match fs::read_dir(&parent) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&parent, e)),
        };
        for entry in entries {
            let dir = entry.map_err(|e| Error::io(&parent, e))?.path();
            unmount_if_mounted(&dir.join("fs"))?;
            remove_dir_if_exists(&dir)?;
        }
        remove_dir_if_exists(&parent)
    }

    /// `(container id, image id)` of every image volume on disk.
    pub fn list(&self) -> Result<Vec<(String, String)>, Error> {
        let mut out = Vec::new();
        let read = |dir: &Path| fs::read_dir(dir).map_err(|e| Error::io(dir, e));
        for container in read(&self.volumes)? {
            let container = container.map_err(|e| Error::io(&self.volumes, e))?;
            let id = container.file_name().to_string_lossy().into_owned();
            let volumes = match fs::read_dir(container.path()) {
                Ok(volumes) => volumes,
                // Taken apart meanwhile by a container's removal.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(container.path(), e)),
            };
            for volume in volumes {
                let volume = volume.map_err(|e| Error::io(&self.volumes, e))?;
                let image = fs::read_to_string(volume.path().join("image")).unwrap_or_default();
                out.push((id.clone(), image));
            }
        }
        Ok(out)
    }
}

/// Records the image, makes the mount point (and the empty lower dir a
/// one-layer image needs) and mounts the read-only overlay.
fn mount_in(dir: &Path, image_id: &str, lowers: &[PathBuf]) -> Result<PathBuf, Error> {
    let image_file = dir.join("image");
    fs::write(&image_file, image_id).map_err(|e| Error::io(&image_file, e))?;
    let target = dir.join("fs");
    fs::create_dir(&target).map_err(|e| Error::io(&target, e))?;
    let mut lowers = lowers.to_vec();
    if lowers.len() == 1 {
        let empty = dir.join("empty");
        fs::create_dir(&empty).map_err(|e| Error::io(&empty, e))?;
        lowers.push(empty);
    }
    crate::overlay::mount(image_id, &lowers, None, &target)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::mount::{MntFlags, umount2};

    fn is_mounted(target: &Path) -> bool {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let t = target.to_string_lossy();
        info.lines().any(|l| l.split(' ').nth(4) == Some(&*t))
    }

    /// Unmounts on drop, so a failed assertion leaves nothing mounted.
    struct Unmount(Vec<PathBuf>);
    impl Drop for Unmount {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = umount2(p, MntFlags::MNT_DETACH);
            }
        }
    }

    fn layer(dir: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let p = dir.join(name);
        fs::create_dir_all(&p).unwrap();
        for (f, content) in files {
            fs::write(p.join(f), content).unwrap();
        }
        p
    }

    #[test]
    fn volumes_are_read_only_overlays_and_unmount_all_takes_them_apart() {
        if !nix::unistd::geteuid().is_root() {
            cradle_testkit::skip("needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let volumes = ImageVolumes::open(&dir.path().join("snapshots")).unwrap();
        let single = layer(dir.path(), "single", &[("a", "one")]);
        let top = layer(dir.path(), "top", &[("shadowed", "top")]);
        let bottom = layer(dir.path(), "bottom", &[("shadowed", "bottom"), ("b", "b")]);
        let base = dir.path().join("snapshots/volumes/ctr-1");
        let _guard = Unmount(vec![base.join("0/fs"), base.join("1/fs")]);

        let one = volumes
            .mount("ctr-1", "0", "sha256:one", std::slice::from_ref(&single))
            .unwrap();
        let two = volumes
            .mount("ctr-1", "1", "sha256:two", &[top, bottom])
            .unwrap();
        assert!(is_mounted(&one) && is_mounted(&two));
        assert_eq!(fs::read_to_string(one.join("a")).unwrap(), "one");
        assert_eq!(fs::read_to_string(two.join("shadowed")).unwrap(), "top");
        assert_eq!(fs::read_to_string(two.join("b")).unwrap(), "b");
        for v in [&one, &two] {
            let err = fs::write(v.join("new"), "x").unwrap_err();
            assert_eq!(err.raw_os_error(), Some(nix::libc::EROFS), "{err}");
        }
        assert!(!single.join("new").exists());
        let mut listed = volumes.list().unwrap();
        listed.sort();
        assert_eq!(
            listed,
            vec![
                ("ctr-1".to_string(), "sha256:one".to_string()),
                ("ctr-1".to_string(), "sha256:two".to_string())
            ]
        );

        volumes.unmount_all("ctr-1").unwrap();
        assert!(!is_mounted(&one) && !is_mounted(&two));
        assert!(!base.exists());
        assert!(volumes.list().unwrap().is_empty());
        // The layers are untouched, and a second call finds nothing to do.
        assert_eq!(fs::read_to_string(single.join("a")).unwrap(), "one");
        volumes.unmount_all("ctr-1").unwrap();
    }

    #[test]
    fn a_failed_volume_mount_leaves_no_directory() {
        if !nix::unistd::geteuid().is_root() {
            cradle_testkit::skip("needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let volumes = ImageVolumes::open(&dir.path().join("snapshots")).unwrap();
        let missing = dir.path().join("no-such-layer");
        let err = volumes
            .mount("ctr-2", "0", "sha256:x", &[missing.clone(), missing])
            .unwrap_err();
        assert!(matches!(err, Error::Mount { .. }), "{err}");
        assert!(volumes.list().unwrap().is_empty());
        assert!(!dir.path().join("snapshots/volumes/ctr-2").exists());
        assert!(matches!(
            volumes.mount("ctr-2", "../x", "sha256:x", &[dir.path().to_path_buf()]),
            Err(Error::InvalidContainerId(_))
        ));
    }
}
