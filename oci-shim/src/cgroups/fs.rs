//! Small file helpers that turn I/O errors into [`CgroupError`]s naming the path.

use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, Instant};

use super::error::CgroupError;

/// Writes `value` to a cgroup file (no truncation semantics matter for cgroupfs).
pub(super) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(|source| CgroupError::Io {
        op: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// Writes the cgroup file that carries the OCI `field`; a file the host
/// does not have (controller or feature missing) is an
/// [`CgroupError::Unsupported`] naming the field, never skipped.
/// The file is never created: cgroupfs refuses that with EACCES, which
/// would hide the real answer (ENOENT, no such interface file).
pub(super) fn write_field(path: &Path, value: &str, field: &str) -> Result<(), CgroupError> {
    let written = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, value.as_bytes()));
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(unsupported(
            field,
            format!("this host has no {}", path.display()),
        )),
        Err(source) => Err(CgroupError::Io {
            op: "write",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// [`CgroupError::Unsupported`] for `field`.
pub(super) fn unsupported(field: &str, reason: impl Into<String>) -> CgroupError {
    CgroupError::Unsupported {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Reads a cgroup file; `None` when it does not exist.
pub(super) fn read_optional(path: &Path) -> Result<Option<String>, CgroupError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Io {
            op: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Creates one directory; an existing one is fine.
pub(super) fn mkdir(path: &Path) -> Result<bool, CgroupError> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(CgroupError::Io {
            op: "mkdir",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Removes a cgroup directory and any child cgroups the container made
/// (deepest first), each with [`rmdir_retry`].
pub(super) fn remove_tree(path: &Path) -> Result<(), CgroupError> {
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Io {
                op: "read",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    rmdir_retry(path)
}

/// Removes a cgroup directory, retrying on EBUSY for up to a second (the
/// kernel keeps a cgroup busy for a moment after its last task exits).
pub(super) fn rmdir_retry(path: &Path) -> Result<(), CgroupError> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                if Instant::now() >= deadline {
                    return Err(CgroupError::Busy {
                        path: path.to_path_buf(),
                    });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(source) => {
                return Err(CgroupError::Io {
                    op: "rmdir",
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
}
