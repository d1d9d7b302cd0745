//! A CRI `Mount.image_sub_path` resolved inside a mounted image volume.
//!
//! The sub path is opened with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)` relative to the volume's mount
//! point, as containerd does with `os.OpenInRoot`: a symlink in the image
//! (`/etc`, `../../..`) resolves as if the image were `/`, so it never
//! leaves the image. The directory it lands on is then named by the
//! kernel's own path of the open descriptor (no symlink left in it), which
//! is checked to be under the volume and handed to the OCI runtime as the
//! bind's source: the volume is a read-only overlay of read-only layers, so
//! that path cannot change under the container.
//!
//! Refused: an absolute sub path or one with `..` (the kubelet refuses
//! them too; checked again here), one missing from the image, and one that
//! is not a directory (a file sub path is a non-goal of KEP 4639, and
//! containerd refuses it likewise).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
use nix::sys::stat::Mode;

/// Why a sub path cannot be mounted.
#[derive(Debug, thiserror::Error)]
pub enum SubPathError {
    /// Absolute, or with a `..` component.
    #[error("{sub_path:?} must be a relative path without \"..\"")]
    NotDescending {
        /// The sub path asked for.
        sub_path: String,
    },
    /// Nothing at that path in the image.
    #[error("{sub_path:?} does not exist in the image")]
    Missing {
        /// The sub path asked for.
        sub_path: String,
    },
    /// Something other than a directory at that path.
    #[error("{sub_path:?} is not a directory in the image (only a directory can be mounted)")]
    NotDirectory {
        /// The sub path asked for.
        sub_path: String,
    },
    /// It resolves outside the volume (or onto another mount).
    #[error("{sub_path:?} resolves outside the image volume {}", volume.display())]
    Escapes {
        /// The sub path asked for.
        sub_path: String,
        /// The volume's mount point.
        volume: PathBuf,
    },
    /// The volume or the path in it could not be opened or named.
    #[error("resolving {sub_path:?} in the image volume {}: {source}", volume.display())]
    Resolve {
        /// The sub path asked for.
        sub_path: String,
        /// The volume's mount point.
        volume: PathBuf,
        /// The system call's error.
        source: nix::Error,
    },
}

/// The host path of `sub_path` inside the image volume mounted at
/// `volume`; `volume` itself for an empty sub path. Blocking.
pub(super) fn resolve(volume: &Path, sub_path: &str) -> Result<PathBuf, SubPathError> {
    if sub_path.is_empty() {
        return Ok(volume.to_path_buf());
    }
    let descending = Path::new(sub_path)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !descending || sub_path.contains('\0') {
        return Err(SubPathError::NotDescending {
            sub_path: sub_path.to_string(),
        });
    }
    let failed = |source| SubPathError::Resolve {
        sub_path: sub_path.to_string(),
        volume: volume.to_path_buf(),
        source,
    };
    let root = open(
        volume,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(failed)?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(
            ResolveFlag::RESOLVE_IN_ROOT
                | ResolveFlag::RESOLVE_NO_MAGICLINKS
                | ResolveFlag::RESOLVE_NO_XDEV,
        );
    let target = match openat2(&root, sub_path, how) {
        Ok(fd) => fd,
        // A component missing, or one that is a file.
        Err(nix::Error::ENOENT | nix::Error::ENOTDIR) => {
            return Err(SubPathError::Missing {
                sub_path: sub_path.to_string(),
            });
        }
        Err(nix::Error::EXDEV) => {
            return Err(SubPathError::Escapes {
                sub_path: sub_path.to_string(),
                volume: volume.to_path_buf(),
            });
        }
        Err(e) => return Err(failed(e)),
    };
    let metadata = std::fs::File::from(target.try_clone().map_err(|e| failed(errno(&e)))?)
        .metadata()
        .map_err(|e| failed(errno(&e)))?;
    if !metadata.is_dir() {
        return Err(SubPathError::NotDirectory {
            sub_path: sub_path.to_string(),
        });
    }
    let (root_path, resolved) = (
        fd_path(&root).map_err(failed)?,
        fd_path(&target).map_err(failed)?,
    );
    if !resolved.starts_with(&root_path) {
        return Err(SubPathError::Escapes {
            sub_path: sub_path.to_string(),
            volume: volume.to_path_buf(),
        });
    }
    Ok(resolved)
}

/// The kernel's path of an open descriptor (its `/proc/self/fd` link).
fn fd_path(fd: &OwnedFd) -> Result<PathBuf, nix::Error> {
    nix::fcntl::readlink(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str()).map(PathBuf::from)
}

/// The errno of an I/O error (EIO when it carries none).
fn errno(e: &std::io::Error) -> nix::Error {
    e.raw_os_error()
        .map(nix::Error::from_raw)
        .unwrap_or(nix::Error::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// A volume like an image's: `bin/busybox`, `etc/passwd`, and links.
    fn volume() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let vol = dir.path().join("fs");
        fs::create_dir_all(vol.join("bin")).unwrap();
        fs::create_dir_all(vol.join("etc/ssl")).unwrap();
        fs::write(vol.join("bin/busybox"), "elf").unwrap();
        fs::write(vol.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        (dir, vol)
    }

    #[test]
    fn an_existing_directory_resolves_under_the_volume() {
        let (_dir, vol) = volume();
        let real = fs::canonicalize(&vol).unwrap();
        assert_eq!(resolve(&vol, "bin").unwrap(), real.join("bin"));
        assert_eq!(resolve(&vol, "./etc/ssl/").unwrap(), real.join("etc/ssl"));
        assert_eq!(resolve(&vol, "").unwrap(), vol);
    }

    #[test]
    fn a_missing_sub_path_is_refused_as_missing() {
        let (_dir, vol) = volume();
        for sub in ["not-existing", "etc/nope", "bin/busybox/below"] {
            let err = resolve(&vol, sub).unwrap_err();
            assert!(matches!(err, SubPathError::Missing { .. }), "{sub}: {err}");
            assert!(err.to_string().contains("does not exist"), "{err}");
        }
    }

    #[test]
    fn a_file_is_refused_as_not_a_directory() {
        let (_dir, vol) = volume();
        let err = resolve(&vol, "etc/passwd").unwrap_err();
        assert!(matches!(err, SubPathError::NotDirectory { .. }), "{err}");
    }

    #[test]
    fn dot_dot_and_absolute_sub_paths_are_refused_before_any_lookup() {
        let (_dir, vol) = volume();
        for sub in ["..", "../fs/bin", "bin/../../x", "/bin", "bin/.."] {
            let err = resolve(&vol, sub).unwrap_err();
            assert!(
                matches!(err, SubPathError::NotDescending { .. }),
                "{sub}: {err}"
            );
        }
    }

    #[test]
    fn symlinks_resolve_inside_the_image_never_on_the_host() {
        let (dir, vol) = volume();
        let real = fs::canonicalize(&vol).unwrap();
        // A host directory beside the volume, reachable by a host-side
        // resolution of each link below.
        let host = dir.path().join("host-secret");
        fs::create_dir(&host).unwrap();
        symlink(&host, vol.join("abs-escape")).unwrap();
        symlink("../host-secret", vol.join("rel-escape")).unwrap();
        symlink("/etc", vol.join("abs-etc")).unwrap();
        symlink("../../../..", vol.join("up")).unwrap();

        for sub in ["abs-escape", "rel-escape"] {
            let err = resolve(&vol, sub).unwrap_err();
            assert!(matches!(err, SubPathError::Missing { .. }), "{sub}: {err}");
        }
        // An absolute link means the image's own /etc, not the host's.
        assert_eq!(resolve(&vol, "abs-etc").unwrap(), real.join("etc"));
        assert_eq!(resolve(&vol, "abs-etc/ssl").unwrap(), real.join("etc/ssl"));
        // Climbing stops at the image's root.
        assert_eq!(resolve(&vol, "up").unwrap(), real);
    }
}
