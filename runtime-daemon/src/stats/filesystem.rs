//! The filesystem the writable layers live on (the daemon root), by
//! statvfs: its size and inodes, with a container's writable layer usage
//! (which the image store measures) alongside.

use std::path::Path;

/// The writable layer and the filesystem it lives on.
#[derive(Debug, Default, Clone)]
pub struct FsSample {
    /// The `device` label: the daemon root holding the writable layers.
    pub device: String,
    /// Bytes the container's writable layer uses.
    pub usage_bytes: Option<u64>,
    /// Size of the filesystem, bytes.
    pub limit_bytes: Option<u64>,
    /// Inodes of the filesystem.
    pub inodes_total: Option<u64>,
    /// Inodes still free.
    pub inodes_free: Option<u64>,
}

/// statvfs of `root` with the writable layer's `usage_bytes`.
pub fn writable_layer_fs(root: &Path, usage_bytes: Option<u64>) -> FsSample {
    let stat = nix::sys::statvfs::statvfs(root).ok();
    FsSample {
        device: root.to_string_lossy().into_owned(),
        usage_bytes,
        limit_bytes: stat
            .as_ref()
            .map(|s| s.blocks().saturating_mul(s.fragment_size())),
        inodes_total: stat.as_ref().map(|s| s.files()),
        inodes_free: stat.as_ref().map(|s| s.files_free()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_filesystem_has_a_size_and_inodes() {
        let fs = writable_layer_fs(Path::new("/"), Some(10));
        assert_eq!(fs.device, "/");
        assert_eq!(fs.usage_bytes, Some(10));
        assert!(fs.limit_bytes.is_some_and(|b| b > 0));
        let absent = writable_layer_fs(Path::new("/nonexistent/root"), None);
        assert_eq!((absent.limit_bytes, absent.inodes_total), (None, None));
    }
}
