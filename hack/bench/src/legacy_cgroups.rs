//! A private mount namespace in which this host's cgroup v2 "unified" mount
//! (hybrid layout) is hidden, so every launcher started from here sees a
//! pure cgroup v1 host. crun refuses hybrid hosts whose cgroup2 still has a
//! controller ("cgroups in hybrid mode not supported"); hiding the mount lets
//! it be measured, under the same conditions as the other launchers. Only
//! this process and its children are affected; the host keeps its mounts.

use anyhow::bail;

const UNIFIED: &str = "/sys/fs/cgroup/unified";

fn check(rc: libc::c_int, what: &str) -> anyhow::Result<()> {
    if rc != 0 {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Enters the namespace. Call before any thread is started (unshare of the
/// mount namespace fails in a multithreaded process).
pub fn enter() -> anyhow::Result<()> {
    // SAFETY: unshare takes flags only and touches no memory of ours.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNS) };
    check(rc, "unshare(CLONE_NEWNS)")?;
    // SAFETY: static NUL-terminated strings; null source/fstype/data are allowed
    // for a propagation change.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    check(rc, "making / private")?;
    if std::path::Path::new(UNIFIED)
        .join("cgroup.controllers")
        .exists()
    {
        // SAFETY: a static NUL-terminated path; umount2 only reads it.
        let rc = unsafe { libc::umount2(c"/sys/fs/cgroup/unified".as_ptr(), libc::MNT_DETACH) };
        check(rc, "unmounting the unified cgroup2")?;
    }
    Ok(())
}
