//! Container root filesystems: one overlay mount per container.
//!
//! Layout: `<root>/snapshots/containers/<container id>/{upper,work,image}`.
//! `image` records which image the rootfs is built on, so the store can refuse
//! to remove an image a container still stands on, even after a restart.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::idmapped::IdMapping;
use crate::snapshots::remove_dir_if_exists;
use crate::trash::Trash;

/// The writable layers of the containers of one store.
#[derive(Debug, Clone)]
pub struct Rootfs {
    containers: PathBuf,
}

impl Rootfs {
    /// Creates `<snapshots>/containers` if needed.
    pub fn open(snapshots: &Path) -> Result<Self, Error> {
        let containers = snapshots.join("containers");
        fs::create_dir_all(&containers).map_err(|e| Error::io(&containers, e))?;
        Ok(Rootfs { containers })
    }

    /// The overlay upper dir of `container_id` (whether or not it exists).
    pub fn upper_dir(&self, container_id: &str) -> Result<PathBuf, Error> {
        Ok(self.dir(container_id)?.join("upper"))
    }

    fn dir(&self, container_id: &str) -> Result<PathBuf, Error> {
        Ok(self.containers.join(plain_name(container_id)?))
    }

    /// Creates the container's upper and work dirs and mounts
    /// `overlay(lowers (top first) + upper)` at `target`. Undoes everything on
    /// failure.
    pub fn mount(
        &self,
        container_id: &str,
        image_id: &str,
        lowers: &[PathBuf],
        target: &Path,
        mapping: Option<&IdMapping<'_>>,
    ) -> Result<(), Error> {
        let dir = self.dir(container_id)?;
        if lowers.is_empty() {
            return Err(Error::BadImage {
                reference: image_id.to_string(),
                what: "layer list",
                reason: "image has no layers".into(),
            });
        }
        fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let result = self.mount_in(&dir, image_id, lowers, target, mapping);
        if result.is_err()
            && let Err(e) = remove_dir_if_exists(&dir)
        {
            tracing::warn!(error = %e, "cannot undo container snapshot dir");
        }
        result
    }

    fn mount_in(
        &self,
        dir: &Path,
        image_id: &str,
        lowers: &[PathBuf],
        target: &Path,
        mapping: Option<&IdMapping<'_>>,
    ) -> Result<(), Error> {
        let upper = dir.join("upper");
        let work = dir.join("work");
        for d in [&upper, &work] {
            fs::create_dir(d).map_err(|e| Error::io(d, e))?;
            if let Some(m) = mapping {
                // Ours, new and empty: the namespace's root owns them.
                let (uid, gid) = (Some(m.root_uid), Some(m.root_gid));
                std::os::unix::fs::chown(d, uid, gid).map_err(|e| Error::io(d, e))?;
            }
        }
        let image_file = dir.join("image");
        fs::write(&image_file, image_id).map_err(|e| Error::io(&image_file, e))?;
        match mapping {
            None => crate::overlay::mount(image_id, lowers, Some((&upper, &work)), target),
            Some(m) => {
                // The descriptors live until overlay holds its own references.
                let (_trees, names) = crate::idmapped::lowers(lowers, m)?;
                crate::overlay::mount(image_id, &names, Some((&upper, &work)), target)
            }
        }
    }

    /// Unmounts `target` if mounted (lazily if busy) and deletes the
    /// container's writable layer. Idempotent.
    pub fn unmount(&self, container_id: &str, target: &Path) -> Result<(), Error> {
        let dir = self.dir(container_id)?;
        unmount_if_mounted(target)?;
        remove_dir_if_exists(&dir)
    }

    /// Unmounts `target` if mounted (lazily if busy), keeping the writable
    /// layer (its usage can still be measured). Idempotent.
    pub fn unmount_only(&self, target: &Path) -> Result<(), Error> {
        unmount_if_mounted(target)
    }

    /// Unmounts `target` if mounted and moves the container's writable layer
    /// into `trash`, returning the entry to delete later. Idempotent.
    pub fn discard(
        &self,
        container_id: &str,
        target: &Path,
        trash: &Trash,
    ) -> Result<Option<PathBuf>, Error> {
        let dir = self.dir(container_id)?;
        unmount_if_mounted(target)?;
        trash.discard(&dir)
    }

    /// `(container id, image id)` of every container rootfs on disk.
    pub fn list(&self) -> Result<Vec<(String, String)>, Error> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.containers).map_err(|e| Error::io(&self.containers, e))? {
            let entry = entry.map_err(|e| Error::io(&self.containers, e))?;
            let id = entry.file_name().to_string_lossy().into_owned();
            let image = fs::read_to_string(entry.path().join("image")).unwrap_or_default();
            out.push((id, image));
        }
        Ok(out)
    }
}

/// `name` if it is usable as one directory name (a container id, a volume
/// name): letters, digits, `-`, `_`, `.`, not `.` or `..`, at most 128 bytes.
pub(crate) fn plain_name(name: &str) -> Result<&str, Error> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(name)
    } else {
        Err(Error::InvalidContainerId(name.to_string()))
    }
}

/// Unmounts `target` if something is mounted there (lazily if busy).
/// Nothing mounted, or no `target` at all, is fine.
pub(crate) fn unmount_if_mounted(target: &Path) -> Result<(), Error> {
    use nix::errno::Errno;
    use nix::mount::{MntFlags, umount2};
    match umount2(target, MntFlags::empty()) {
        // EINVAL: not a mount point; ENOENT: target gone. Both: nothing mounted.
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EBUSY) => {
            tracing::warn!(target = %target.display(), "mount busy, detaching lazily");
            match umount2(target, MntFlags::MNT_DETACH) {
                // Unmounted meanwhile by a concurrent caller (the exit
                // monitor and RemoveContainer both unmount): nothing mounted.
                Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
                Err(source) => Err(Error::Mount {
                    action: "unmount",
                    target: target.to_path_buf(),
                    source,
                }),
            }
        }
        Err(source) => Err(Error::Mount {
            action: "unmount",
            target: target.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::{MAX_MOUNT_DATA, OVERLAY_MAX_LOWERS, join_lowers};
    use nix::mount::{MntFlags, umount2};

    fn is_mounted(target: &Path) -> bool {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let t = target.to_string_lossy();
        info.lines().any(|l| l.split(' ').nth(4) == Some(&*t))
    }

    /// Unmounts on drop, so a failed assertion leaves nothing mounted.
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = umount2(&self.0, MntFlags::MNT_DETACH);
        }
    }

    #[test]
    fn overlay_shows_lowers_keeps_writes_in_upper_and_unmounts_cleanly() {
        if !nix::unistd::geteuid().is_root() {
            cradle_testkit::skip("needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (bottom, top, target) = (
            dir.path().join("bottom"),
            dir.path().join("top"),
            dir.path().join("rootfs"),
        );
        for d in [&bottom, &top, &target] {
            fs::create_dir(d).unwrap();
        }
        fs::write(bottom.join("from-bottom"), "b").unwrap();
        fs::write(bottom.join("shadowed"), "bottom").unwrap();
        fs::write(bottom.join("deleted"), "gone").unwrap();
        fs::write(top.join("shadowed"), "top").unwrap();
        // An overlay whiteout, as unpack writes them.
        nix::sys::stat::mknod(
            &top.join("deleted"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        let rootfs = Rootfs::open(&dir.path().join("snapshots")).unwrap();
        let _guard = Unmount(target.clone());

        rootfs
            .mount(
                "ctr-1",
                "sha256:img",
                &[top.clone(), bottom.clone()],
                &target,
                None,
            )
            .unwrap();
        assert!(is_mounted(&target));
        assert_eq!(fs::read_to_string(target.join("from-bottom")).unwrap(), "b");
        assert_eq!(fs::read_to_string(target.join("shadowed")).unwrap(), "top");
        assert!(!target.join("deleted").exists());
        fs::write(target.join("new"), "w").unwrap();
        let upper = dir.path().join("snapshots/containers/ctr-1/upper");
        assert_eq!(fs::read_to_string(upper.join("new")).unwrap(), "w");
        assert!(!top.join("new").exists() && !bottom.join("new").exists());
        assert_eq!(
            rootfs.list().unwrap(),
            vec![("ctr-1".to_string(), "sha256:img".to_string())]
        );

        rootfs.unmount("ctr-1", &target).unwrap();
        assert!(!is_mounted(&target));
        assert!(!dir.path().join("snapshots/containers/ctr-1").exists());
        assert_eq!(fs::read_dir(&target).unwrap().count(), 0);
        // Idempotent.
        rootfs.unmount("ctr-1", &target).unwrap();
    }

    #[test]
    fn failed_mount_leaves_no_container_dir() {
        if !nix::unistd::geteuid().is_root() {
            cradle_testkit::skip("needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let rootfs = Rootfs::open(&dir.path().join("snapshots")).unwrap();
        let missing_target = dir.path().join("no-such-target");
        let lower = dir.path().join("lower");
        fs::create_dir(&lower).unwrap();
        let err = rootfs
            .mount("ctr-2", "sha256:img", &[lower], &missing_target, None)
            .unwrap_err();
        assert!(matches!(err, Error::Mount { .. }), "{err}");
        assert!(rootfs.list().unwrap().is_empty());
    }

    /// `n` lower dirs under long paths (like the store's 64-hex names), each
    /// holding one file named after it, top first.
    fn many_lowers(dir: &Path, n: usize) -> Vec<PathBuf> {
        (0..n)
            .rev()
            .map(|i| {
                let p = dir.join(format!("{i:064}")).join("fs");
                fs::create_dir_all(&p).unwrap();
                fs::write(p.join(format!("f{i}")), i.to_string()).unwrap();
                p
            })
            .collect()
    }

    #[test]
    fn image_of_300_layers_mounts_as_one_overlay() {
        if !nix::unistd::geteuid().is_root() {
            cradle_testkit::skip("needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let lowers = many_lowers(dir.path(), 300);
        // Far beyond one page of mount options: takes the lowerdir+ path.
        assert!(join_lowers(&lowers).len() > 4 * MAX_MOUNT_DATA);
        let target = dir.path().join("rootfs");
        fs::create_dir(&target).unwrap();
        let rootfs = Rootfs::open(&dir.path().join("snapshots")).unwrap();
        let _guard = Unmount(target.clone());
        rootfs
            .mount("ctr-many", "sha256:img", &lowers, &target, None)
            .unwrap();
        assert!(is_mounted(&target));
        for i in [0, 1, 150, 298, 299] {
            assert_eq!(
                fs::read_to_string(target.join(format!("f{i}"))).unwrap(),
                i.to_string()
            );
        }
        assert_eq!(fs::read_dir(&target).unwrap().count(), 300);
        rootfs.unmount("ctr-many", &target).unwrap();
        assert!(!is_mounted(&target));
    }

    #[test]
    fn more_layers_than_overlay_stacks_is_a_clear_error_and_leaves_nothing() {
        if !nix::unistd::geteuid().is_root() {
            cradle_testkit::skip("needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let lowers: Vec<PathBuf> = (0..=OVERLAY_MAX_LOWERS)
            .map(|i| dir.path().join(format!("l{i}")))
            .collect();
        let target = dir.path().join("rootfs");
        fs::create_dir(&target).unwrap();
        let rootfs = Rootfs::open(&dir.path().join("snapshots")).unwrap();
        let err = rootfs
            .mount("ctr-deep", "sha256:img", &lowers, &target, None)
            .unwrap_err();
        assert!(
            matches!(err, Error::TooManyLayers { layers: 501, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("at most 500"), "{err}");
        assert!(!is_mounted(&target));
        assert!(rootfs.list().unwrap().is_empty());
    }

    /// A process in a new user namespace mapping 0 to `host` (65536 ids),
    /// killed on drop.
    struct UserNs(std::process::Child);
    impl UserNs {
        fn spawn(host: u32) -> UserNs {
            use std::os::unix::process::CommandExt;
            let mut cmd = std::process::Command::new("sleep");
            cmd.arg("60");
            // SAFETY: unshare is async-signal-safe, fine between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
                        .map_err(std::io::Error::from)
                })
            };
            let child = UserNs(cmd.spawn().unwrap());
            let pid = child.0.id();
            for f in ["uid_map", "gid_map"] {
                fs::write(format!("/proc/{pid}/{f}"), format!("0 {host} 65536\n")).unwrap();
            }
            child
        }
        fn path(&self) -> PathBuf {
            PathBuf::from(format!("/proc/{}/ns/user", self.0.id()))
        }
    }
    impl Drop for UserNs {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn an_id_mapped_rootfs_shows_the_image_as_the_namespaces_root_without_chown() {
        use std::os::unix::fs::MetadataExt;
        if !nix::unistd::geteuid().is_root() {
            cradle_testkit::skip("needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (lower, target) = (dir.path().join("lower"), dir.path().join("rootfs"));
        for d in [&lower, &target] {
            fs::create_dir(d).unwrap();
        }
        fs::write(lower.join("image-file"), "i").unwrap();
        let userns = UserNs::spawn(200_000);
        let path = userns.path();
        let mapping = IdMapping {
            userns: &path,
            root_uid: 200_000,
            root_gid: 200_000,
        };
        let rootfs = Rootfs::open(&dir.path().join("snapshots")).unwrap();
        let _guard = Unmount(target.clone());
        match rootfs.mount(
            "ctr-m",
            "sha256:img",
            std::slice::from_ref(&lower),
            &target,
            Some(&mapping),
        ) {
            Err(Error::Mount {
                source: nix::errno::Errno::EINVAL,
                ..
            }) => {
                cradle_testkit::skip("this filesystem has no id-mapped mounts");
                return;
            }
            other => other.unwrap(),
        }
        let seen = fs::metadata(target.join("image-file")).unwrap();
        assert_eq!((seen.uid(), seen.gid()), (200_000, 200_000));
        let on_disk = fs::metadata(lower.join("image-file")).unwrap();
        assert_eq!((on_disk.uid(), on_disk.gid()), (0, 0));
        let upper = fs::metadata(dir.path().join("snapshots/containers/ctr-m/upper")).unwrap();
        assert_eq!((upper.uid(), upper.gid()), (200_000, 200_000));
        rootfs.unmount("ctr-m", &target).unwrap();
        assert!(!is_mounted(&target));
    }

    #[test]
    fn container_ids_that_are_not_plain_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = Rootfs::open(dir.path()).unwrap();
        for bad in ["", "..", "a/b", "../x"] {
            assert!(matches!(
                rootfs.unmount(bad, dir.path()),
                Err(Error::InvalidContainerId(_))
            ));
        }
    }
}
