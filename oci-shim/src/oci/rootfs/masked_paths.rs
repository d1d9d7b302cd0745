//! The hiding done after the root switch: masked paths, read-only paths
//! and a read-only root, as runc does them.

use std::path::Path;

use nix::mount::MsFlags;

use crate::oci::error::{OciError, Result};
use crate::oci::rootfs::mounts::locked_flags;
use crate::oci::syscall::Syscall;

fn fail(what: &str, path: &Path, e: nix::Error) -> OciError {
    OciError::sys(format!("{what} {}", path.display()), e)
}

/// Remounts `/` read-only (after pivot), keeping its other flags (which
/// a user namespace could not clear anyway).
pub(crate) fn readonly_root(sys: &impl Syscall) -> Result<()> {
    let root = Path::new("/");
    let keep = locked_flags(root);
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep;
    sys.mount(None, root, None, flags, None)
        .map_err(|e| fail("remount read-only", root, e))
}

/// Hides each path: a directory gets a read-only empty tmpfs, anything
/// else `/dev/null` bound over it. Missing paths are skipped.
pub(crate) fn mask_paths(sys: &impl Syscall, paths: &[String]) -> Result<()> {
    for p in paths {
        let path = Path::new(p);
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        if meta.is_dir() {
            let tmpfs = Path::new("tmpfs");
            sys.mount(Some(tmpfs), path, Some("tmpfs"), MsFlags::MS_RDONLY, None)
                .map_err(|e| fail("mask", path, e))?;
        } else {
            let null = Path::new("/dev/null");
            sys.mount(Some(null), path, None, MsFlags::MS_BIND, None)
                .map_err(|e| fail("mask", path, e))?;
        }
    }
    Ok(())
}

/// Makes each path read-only with a recursive self-bind and a read-only
/// remount that keeps the mount's other flags (as runc does). Missing
/// paths are skipped.
pub(crate) fn readonly_paths(sys: &impl Syscall, paths: &[String]) -> Result<()> {
    for p in paths {
        let path = Path::new(p);
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
        sys.mount(Some(path), path, None, bind, None)
            .map_err(|e| fail("bind read-only path", path, e))?;
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_REC
            | locked_flags(path);
        sys.mount(Some(path), path, None, flags, None)
            .map_err(|e| fail("remount read-only", path, e))?;
    }
    Ok(())
}
