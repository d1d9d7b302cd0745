//! One overlay mount of an image's layers: writable (lower dirs plus a
//! container's upper and work dirs, for a rootfs) or read-only (lower dirs
//! only, for an image volume).
//!
//! Mount data longer than the page `mount(2)` takes goes through
//! [`crate::fsmount`] (`lowerdir+`, Linux 6.8+), else names each lower dir
//! by a short `/proc/self/fd` link; past both, a clear
//! [`Error::TooManyLayers`].

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount as mount_syscall};

use crate::error::Error;
use crate::fsmount;

/// The kernel refuses mount data longer than a page.
pub const MAX_MOUNT_DATA: usize = 4095;
/// overlayfs's stack depth limit (`OVL_MAX_STACK`).
pub const OVERLAY_MAX_LOWERS: usize = 500;

/// Mounts `overlay(lowers (top first) [+ upper, work])` at `target`.
/// Without `upper_work` the overlay is read-only (the kernel wants at least
/// two lower dirs then). `image_id` names the image in errors.
///
/// A writable overlay is `volatile` (Linux 5.10+; without it, on older
/// kernels): its writes are never synced. Without it, unmounting the
/// overlay syncs the whole filesystem under the upper dir (overlayfs's
/// `sync_fs` at the last reference), which made RemoveContainer wait for
/// every dirty page of the node's root filesystem (milliseconds when idle,
/// hundreds under write load). A writable layer never outlives a host
/// crash in Kubernetes (the kubelet starts new containers, never the old
/// ones again), so the syncs bought nothing.
pub fn mount(
    image_id: &str,
    lowers: &[PathBuf],
    upper_work: Option<(&Path, &Path)>,
    target: &Path,
) -> Result<(), Error> {
    if upper_work.is_some() {
        match mount_with(image_id, lowers, upper_work, target, true) {
            Err(Error::Mount {
                source: nix::errno::Errno::EINVAL,
                ..
            }) => tracing::debug!("overlay without volatile (Linux < 5.10)"),
            result => return result,
        }
    }
    mount_with(image_id, lowers, upper_work, target, false)
}

fn mount_with(
    image_id: &str,
    lowers: &[PathBuf],
    upper_work: Option<(&Path, &Path)>,
    target: &Path,
    volatile: bool,
) -> Result<(), Error> {
    let mut paths: Vec<&Path> = lowers.iter().map(PathBuf::as_path).collect();
    if let Some((upper, work)) = upper_work {
        paths.extend([upper, work]);
    }
    for p in &paths {
        let s = p.to_string_lossy();
        if s.contains([',', ':']) || s.contains('\\') {
            return Err(Error::io(
                *p,
                io::Error::other("path unusable in overlay options"),
            ));
        }
    }
    if lowers.len() > OVERLAY_MAX_LOWERS {
        return Err(Error::TooManyLayers {
            image: image_id.to_string(),
            layers: lowers.len(),
            reason: format!("overlayfs stacks at most {OVERLAY_MAX_LOWERS} lower layers"),
        });
    }
    let (flags, tail) = match upper_work {
        Some((upper, work)) => (
            MsFlags::empty(),
            format!(
                ",upperdir={},workdir={}{}",
                upper.display(),
                work.display(),
                if volatile { ",volatile" } else { "" }
            ),
        ),
        None => (MsFlags::MS_RDONLY, String::new()),
    };
    let long = format!("lowerdir={}{tail}", join_lowers(lowers));
    if long.len() <= MAX_MOUNT_DATA {
        return mount_data(target, &long, flags);
    }
    // Too long for one page of mount data: each lower dir as its own
    // `lowerdir+` parameter (Linux 6.8+).
    match fsmount::mount_overlay(lowers, upper_work, volatile, target) {
        Ok(()) => return Ok(()),
        Err(fsmount::FsMountError::Failed(step, source)) => {
            tracing::warn!(step, error = %source, layers = lowers.len(), "overlay mount through fsconfig failed");
            return Err(Error::Mount {
                action: "mount",
                target: target.to_path_buf(),
                source,
            });
        }
        Err(fsmount::Unsupported(e)) => {
            tracing::debug!(error = %e, "no overlay lowerdir+; naming lower dirs by descriptor");
        }
    }
    // Older kernels: name each lower dir by a short /proc/self/fd link
    // (overlay resolves them at mount time; the fds close right after).
    let fds = open_lowers(lowers)?;
    let short: Vec<PathBuf> = fds
        .iter()
        .map(|fd| PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())))
        .collect();
    let data = format!("lowerdir={}{tail}", join_lowers(&short));
    if data.len() > MAX_MOUNT_DATA {
        return Err(Error::TooManyLayers {
            image: image_id.to_string(),
            layers: lowers.len(),
            reason: format!(
                "their paths exceed the {MAX_MOUNT_DATA} bytes of one overlay mount option \
                 string and this kernel has no overlay lowerdir+ (Linux 6.8+)"
            ),
        });
    }
    mount_data(target, &data, flags)
}

/// `mount -t overlay overlay -o <data> <target>`.
fn mount_data(target: &Path, data: &str, flags: MsFlags) -> Result<(), Error> {
    mount_syscall(Some("overlay"), target, Some("overlay"), flags, Some(data)).map_err(|source| {
        Error::Mount {
            action: "mount",
            target: target.to_path_buf(),
            source,
        }
    })
}

/// `a:b:c`, top first, as overlay's `lowerdir` wants.
pub fn join_lowers(lowers: &[PathBuf]) -> String {
    lowers
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// Opens every lower dir as an `O_PATH` descriptor (no permission needed on
/// content, never follows a final symlink out of the store).
fn open_lowers(lowers: &[PathBuf]) -> Result<Vec<fs::File>, Error> {
    lowers
        .iter()
        .map(|p| {
            fs::File::options()
                .read(true)
                .custom_flags(nix::libc::O_PATH | nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW)
                .open(p)
                .map_err(|e| Error::io(p, e))
        })
        .collect()
}
