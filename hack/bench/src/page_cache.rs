//! Puts a launcher's binary in the same page-cache state for every run.
//!
//! A launcher's peak RSS is mostly its mapped code, and a file mapping's
//! fault maps the neighbouring pages the page cache holds (fault-around)
//! in units shaped by how the file came into the cache: large folios from
//! the linker's or `cp`'s writes map more per fault than the readahead
//! of a cold read. The same cradle-oci measured 1664 KiB at `start` just
//! after being copied and 1544 KiB once evicted and read back. Evicting
//! each binary before its warm-up rounds makes the figures depend on the
//! binary alone, as on a node where it was read back from disk.

use std::path::Path;

/// Writes back and drops the cached pages of `path` (best effort: a
/// binary found through PATH or unreadable is measured as it is).
pub fn evict(path: &Path) {
    let Ok(file) = std::fs::File::open(path) else {
        return;
    };
    // Dirty pages are not dropped: write them back first.
    let _ = file.sync_data();
    // SAFETY: posix_fadvise on a descriptor we own; it only drops clean
    // cached pages of the file.
    unsafe {
        libc::posix_fadvise(
            std::os::fd::AsRawFd::as_raw_fd(&file),
            0,
            0,
            libc::POSIX_FADV_DONTNEED,
        );
    }
}
