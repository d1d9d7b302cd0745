//! `tmpcopyup`: a tmpfs mounted over an image directory starts with a
//! copy of what it covers (as runc and Docker's `--tmpfs` do). The copy
//! reads the covered directory through a descriptor opened before the
//! mount, never follows a symlink (links are copied as links), and keeps
//! modes and owners.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::oci::error::{OciError, Result};

/// Entries copied at most, so a hostile image cannot keep `create` busy.
const MAX_ENTRIES: usize = 100_000;

fn fd_dir(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Copies the tree of the directory `from` (opened before the mount) into
/// the directory `to` (the new tmpfs).
pub(crate) fn copy_tree(from: &OwnedFd, to: &OwnedFd) -> Result<()> {
    let mut budget = MAX_ENTRIES;
    copy_dir(&fd_dir(from), &fd_dir(to), &mut budget)
}

fn copy_dir(from: &Path, to: &Path, budget: &mut usize) -> Result<()> {
    let entries = std::fs::read_dir(from).map_err(|e| OciError::io("tmpcopyup: read", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| OciError::io("tmpcopyup: read", from, e))?;
        *budget = budget.checked_sub(1).ok_or_else(|| {
            OciError::Unsupported(format!("tmpcopyup of more than {MAX_ENTRIES} entries"))
        })?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = std::fs::symlink_metadata(&src)
            .map_err(|e| OciError::io("tmpcopyup: stat", &src, e))?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(&src)
                .map_err(|e| OciError::io("tmpcopyup: readlink", &src, e))?;
            std::os::unix::fs::symlink(&target, &dst)
                .map_err(|e| OciError::io("tmpcopyup: symlink", &dst, e))?;
        } else if ft.is_dir() {
            std::fs::create_dir(&dst).map_err(|e| OciError::io("tmpcopyup: mkdir", &dst, e))?;
            copy_dir(&src, &dst, budget)?;
        } else if ft.is_file() {
            let mut input = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&src)
                .map_err(|e| OciError::io("tmpcopyup: open", &src, e))?;
            let mut output = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&dst)
                .map_err(|e| OciError::io("tmpcopyup: create", &dst, e))?;
            std::io::copy(&mut input, &mut output)
                .map_err(|e| OciError::io("tmpcopyup: copy", &dst, e))?;
        } else {
            return Err(OciError::Unsupported(format!(
                "tmpcopyup of the special file {}",
                entry.file_name().to_string_lossy()
            )));
        }
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            &dst,
            Some(nix::unistd::Uid::from_raw(meta.uid())),
            Some(nix::unistd::Gid::from_raw(meta.gid())),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| OciError::sys(format!("tmpcopyup: chown {}", dst.display()), e))?;
        if !ft.is_symlink() {
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
                .map_err(|e| OciError::io("tmpcopyup: chmod", &dst, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_dirs_and_links_are_copied_without_following_links() {
        let d = tempfile::tempdir().unwrap();
        let (from, to) = (d.path().join("from"), d.path().join("to"));
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::create_dir(&to).unwrap();
        std::fs::write(from.join("sub/f"), "data").unwrap();
        std::fs::set_permissions(from.join("sub/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", from.join("link")).unwrap();
        let open = |p: &Path| -> OwnedFd { std::fs::File::open(p).unwrap().into() };
        copy_tree(&open(&from), &open(&to)).unwrap();
        assert_eq!(std::fs::read_to_string(to.join("sub/f")).unwrap(), "data");
        let mode = std::fs::metadata(to.join("sub/f")).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        assert_eq!(
            std::fs::read_link(to.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
    }
}
