//! Reading `/proc/self/mountinfo`: the mount a path is on, and detaching
//! every mount under a rootfs (what an init without a mount namespace of
//! its own left in the host's), through the [`Syscall`] seam.

use std::path::Path;

use nix::mount::MntFlags;

use crate::oci::error::{OciError, Result};
use crate::oci::syscall::Syscall;

/// Detaches every mount at or under `rootfs` in this mount namespace,
/// deepest first: what an init without a mount namespace of its own left
/// in the host's (`delete`).
pub(crate) fn detach_mounts_under(sys: &impl Syscall, rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| OciError::io("read", "/proc/self/mountinfo", e))?;
    detach_listed_under(sys, &info, rootfs)
}

/// [`detach_mounts_under`] over the mount table `mountinfo`; a mount
/// already gone (EINVAL, ENOENT) is not an error.
fn detach_listed_under(sys: &impl Syscall, mountinfo: &str, rootfs: &Path) -> Result<()> {
    let mut points: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|mp| Path::new(mp).starts_with(rootfs))
        .collect();
    points.sort_by_key(|mp| std::cmp::Reverse(mp.len()));
    points.dedup();
    for mp in points {
        match sys.umount2(
            Path::new(&mp),
            MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW,
        ) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(e) => {
                return Err(OciError::sys(format!("detach {mp}"), e));
            }
        }
    }
    Ok(())
}

/// The mount point (field 5 of mountinfo) that is the longest prefix of `path`.
pub(crate) fn longest_mount_prefix(mountinfo: &str, path: &Path) -> Option<String> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.len())
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` (octal).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::syscall::{Call, Recorder};

    const TABLE: &str = "22 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n\
        40 22 0:40 / /run/b/rootfs rw - overlay overlay rw\n\
        41 40 0:41 / /run/b/rootfs/proc rw - proc proc rw\n\
        42 40 0:42 / /run/b/rootfs/dev rw - tmpfs tmpfs rw\n\
        43 42 0:43 / /run/b/rootfs/dev/pts rw - devpts devpts rw\n\
        44 22 0:44 / /run/b/rootfs2 rw - tmpfs tmpfs rw\n\
        45 22 0:45 / /run/other rw - tmpfs tmpfs rw\n";

    fn detached(log: &[Call]) -> Vec<String> {
        log.iter()
            .map(|c| match c {
                Call::Umount(p, f) => {
                    assert_eq!(*f, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW);
                    p.clone()
                }
                other => panic!("unexpected call {other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_mounts_under_a_rootfs_are_detached_deepest_first_and_no_other() {
        let sys = Recorder::new(Path::new("/nonexistent"));
        detach_listed_under(&sys, TABLE, Path::new("/run/b/rootfs")).unwrap();
        assert_eq!(
            detached(&sys.log()),
            [
                "/run/b/rootfs/dev/pts",
                "/run/b/rootfs/proc",
                "/run/b/rootfs/dev",
                "/run/b/rootfs",
            ]
        );
    }

    #[test]
    fn a_mount_already_gone_is_not_an_error_but_a_busy_one_is() {
        let sys = Recorder::new(Path::new("/nonexistent"));
        sys.fail("umount2", nix::Error::EINVAL);
        detach_listed_under(&sys, TABLE, Path::new("/run/b/rootfs")).unwrap();
        sys.fail("umount2", nix::Error::EBUSY);
        let e = detach_listed_under(&sys, TABLE, Path::new("/run/b/rootfs"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("detach /run/b/rootfs/dev/pts"), "{e}");
    }

    #[test]
    fn parent_mount_is_the_longest_prefix() {
        let info = "22 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n\
                    30 22 0:5 / /var/lib rw shared:2 - tmpfs tmpfs rw\n\
                    31 22 0:6 / /var/lib\\040x rw - tmpfs tmpfs rw\n";
        assert_eq!(
            longest_mount_prefix(info, Path::new("/var/lib/cradle/b")).as_deref(),
            Some("/var/lib")
        );
        assert_eq!(
            longest_mount_prefix(info, Path::new("/var/lib x/b")).as_deref(),
            Some("/var/lib x")
        );
        assert_eq!(
            longest_mount_prefix(info, Path::new("/tmp")).as_deref(),
            Some("/")
        );
    }
}
