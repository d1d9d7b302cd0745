//! The root switch: pivot_root (or, with `--no-pivot`, MS_MOVE over `/`
//! and chroot; without a mount namespace of the container's, a plain
//! chroot), then the spec's propagation for the new `/`.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::Mode;

use crate::oci::error::{OciError, Result};
use crate::oci::rootfs::mounts::propagation_flag;
use crate::oci::syscall::Syscall;

fn fail(what: &str, path: &Path, e: nix::Error) -> OciError {
    OciError::sys(format!("{what} {}", path.display()), e)
}

/// Without a mount namespace of the container's, the root switch is a
/// chroot, as runc's: pivot_root (or `--no-pivot`'s MS_MOVE over `/`)
/// would change the host's root.
pub(crate) fn chroot_into(sys: &impl Syscall, rootfs: &Path) -> Result<()> {
    sys.chdir(rootfs).map_err(|e| fail("chdir", rootfs, e))?;
    sys.chroot(Path::new("."))
        .map_err(|e| fail("chroot", rootfs, e))?;
    let root = Path::new("/");
    sys.chdir(root).map_err(|e| fail("chdir", root, e))
}

/// After pivot: apply a shared or slave `rootfsPropagation` to the new `/`
/// (the rootfs mount itself had to stay private for pivot_root).
pub(crate) fn apply_root_propagation(sys: &impl Syscall, propagation: Option<&str>) -> Result<()> {
    let Some(p) = propagation else { return Ok(()) };
    let flags = propagation_flag(p)
        .ok_or_else(|| OciError::Unsupported(format!("rootfsPropagation {p:?}")))?;
    if flags.contains(MsFlags::MS_PRIVATE) {
        return Ok(());
    }
    let root = Path::new("/");
    sys.mount(None, root, None, flags, None)
        .map_err(|e| fail("set propagation of", root, e))
}

/// pivot_root into `rootfs` with the `pivot_root(".", ".")` idiom: the old
/// root ends up stacked on the new one and is detached right away.
///
/// As runc does, the old root is reached through a descriptor opened before
/// the pivot: after it, "." still names the new root's own mount, and making
/// *that* slave would cut the container's shared (bidirectional) mounts off
/// from the host.
pub(crate) fn pivot(sys: &impl Syscall, rootfs: &Path) -> Result<()> {
    let old_root = open_dir(Path::new("/"))?;
    let here = Path::new(".");
    sys.chdir(rootfs).map_err(|e| fail("chdir", rootfs, e))?;
    sys.pivot_root(here, here)
        .map_err(|e| fail("pivot_root", rootfs, e))?;
    sys.fchdir(&old_root)
        .map_err(|e| fail("fchdir to the old root", rootfs, e))?;
    drop(old_root);
    // Keep the unmount of the old root from propagating to the host.
    sys.mount(None, here, None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)
        .map_err(|e| fail("make old root slave", rootfs, e))?;
    sys.umount2(here, MntFlags::MNT_DETACH)
        .map_err(|e| fail("detach old root", rootfs, e))?;
    let root = Path::new("/");
    sys.chdir(root).map_err(|e| fail("chdir", root, e))
}

fn open_dir(path: &Path) -> Result<OwnedFd> {
    open(
        path,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail("open", path, e))
}

/// `--no-pivot`: move the rootfs over `/` and chroot (for ramdisk roots).
pub(crate) fn move_root(sys: &impl Syscall, rootfs: &Path) -> Result<()> {
    sys.chdir(rootfs).map_err(|e| fail("chdir", rootfs, e))?;
    sys.mount(Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None)
        .map_err(|e| fail("move rootfs", rootfs, e))?;
    sys.chroot(Path::new("."))
        .map_err(|e| fail("chroot", rootfs, e))?;
    let root = Path::new("/");
    sys.chdir(root).map_err(|e| fail("chdir", root, e))
}
