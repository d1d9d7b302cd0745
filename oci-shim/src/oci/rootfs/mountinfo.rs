//! Reading `/proc/self/mountinfo`: the mount a path is on, and detaching
//! every mount under a rootfs (what an init without a mount namespace of
//! its own left in the host's).

use std::path::Path;

use nix::mount::{MntFlags, umount2};

use crate::oci::error::{OciError, Result};

/// Detaches every mount at or under `rootfs` in this mount namespace,
/// deepest first: what an init without a mount namespace of its own left
/// in the host's (`delete`).
pub(crate) fn detach_mounts_under(rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| OciError::io("read", "/proc/self/mountinfo", e))?;
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|mp| Path::new(mp).starts_with(rootfs))
        .collect();
    points.sort_by_key(|mp| std::cmp::Reverse(mp.len()));
    points.dedup();
    for mp in points {
        match umount2(
            mp.as_str(),
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
