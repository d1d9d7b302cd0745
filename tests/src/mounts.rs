//! Host mounts the tests make, each a guard that undoes it on drop.

use std::path::{Path, PathBuf};

use anyhow::ensure;
use nix::mount::{MntFlags, MsFlags, mount, umount2};

/// `dir` bind-mounted on itself and made shared, as the kubelet's volume
/// dirs are (needed for bidirectional and host-to-container propagation).
/// Lazily unmounted on drop.
pub struct SharedMount(PathBuf);

impl SharedMount {
    /// Bind-mounts `dir` on itself and makes it shared.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>)?;
        let guard = SharedMount(dir.to_path_buf());
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_SHARED,
            None::<&str>,
        )?;
        Ok(guard)
    }
}

impl Drop for SharedMount {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
    }
}

/// A tmpfs at `dir`, or a mount something else put there (a container,
/// through propagation): lazily unmounted on drop, whatever it is.
pub struct Unmount(pub PathBuf);

impl Unmount {
    /// Mounts a tmpfs at `dir` (which must exist).
    pub fn tmpfs(dir: &Path) -> anyhow::Result<Self> {
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )?;
        Ok(Unmount(dir.to_path_buf()))
    }
}

impl Drop for Unmount {
    fn drop(&mut self) {
        while umount2(&self.0, MntFlags::MNT_DETACH).is_ok() {}
    }
}

/// Whether `path` is a mount point in this process's mount namespace, and
/// of which filesystem type (`/proc/self/mountinfo`).
pub fn mount_type(path: &Path) -> anyhow::Result<Option<String>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let target = path.to_string_lossy();
    Ok(info.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let sep = fields.iter().position(|f| *f == "-")?;
        (fields.get(4) == Some(&target.as_ref()))
            .then(|| fields.get(sep + 1).map(|t| t.to_string()))?
    }))
}

/// Fails unless `path` is a mount point of type `typ`.
pub fn ensure_mounted(path: &Path, typ: &str) -> anyhow::Result<()> {
    let got = mount_type(path)?;
    ensure!(
        got.as_deref() == Some(typ),
        "{} is not a {typ} mount point (found {got:?})",
        path.display()
    );
    Ok(())
}
