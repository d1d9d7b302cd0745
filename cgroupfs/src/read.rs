//! Thin readers: open one cgroup file and hand its text to a [`crate::parse`]
//! function. A file that is missing or unreadable (the cgroup is gone, the
//! controller is not there, accounting is off) reads as nothing, never as
//! an error: a stat that cannot be read is left out, not invented.

use std::collections::HashMap;
use std::path::Path;

use crate::parse::{self, DeviceIo, Limit, Psi};

fn text(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// A one-number file.
pub fn u64_file(path: &Path) -> Option<u64> {
    parse::u64_value(&text(path)?)
}

/// A limit file (`pids.max`): a number or `max`.
pub fn limit_file(path: &Path) -> Option<Limit> {
    parse::limit(&text(path)?)
}

/// A `key value` file as a map (empty when unreadable).
pub fn keyed_file(path: &Path) -> HashMap<String, u64> {
    parse::keyed(&text(path).unwrap_or_default())
}

/// v2 `io.stat` (empty when unreadable).
pub fn io_stat_file(path: &Path) -> Vec<DeviceIo> {
    parse::io_stat(&text(path).unwrap_or_default())
}

/// v1 blkio's bytes and operations files, merged per device.
pub fn blkio_files(bytes: &Path, ops: &Path) -> Vec<DeviceIo> {
    parse::blkio(
        &text(bytes).unwrap_or_default(),
        &text(ops).unwrap_or_default(),
    )
}

/// The hugetlb usage of the cgroup directory `dir`, per page size, sorted
/// by size name (empty without the controller).
pub fn hugetlb_usage(dir: &Path, v2: bool) -> Vec<(String, u64)> {
    let mut usage: Vec<(String, u64)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let size = parse::hugetlb_usage_size(name.to_str()?, v2)?.to_string();
            Some((size, u64_file(&entry.path())?))
        })
        .collect();
    usage.sort();
    usage
}

/// A pressure stall file; `None` where PSI is off or the file is absent.
pub fn psi_file(path: &Path) -> Option<Psi> {
    parse::psi(&text(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_read_as_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("absent");
        assert_eq!(u64_file(&absent), None);
        assert_eq!(limit_file(&absent), None);
        assert!(keyed_file(&absent).is_empty());
        assert!(io_stat_file(&absent).is_empty());
        assert!(blkio_files(&absent, &absent).is_empty());
        assert!(hugetlb_usage(&absent, true).is_empty());
        assert_eq!(psi_file(&absent), None);
    }

    #[test]
    fn hugetlb_usage_lists_each_page_size() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("hugetlb.2MB.usage_in_bytes"), "4194304\n").unwrap();
        std::fs::write(d.join("hugetlb.2MB.limit_in_bytes"), "0\n").unwrap();
        std::fs::write(d.join("hugetlb.1GB.usage_in_bytes"), "0\n").unwrap();
        assert_eq!(
            hugetlb_usage(d, false),
            vec![("1GB".to_string(), 0), ("2MB".to_string(), 4_194_304)]
        );
        assert!(hugetlb_usage(d, true).is_empty());
    }

    #[test]
    fn files_are_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("pids.current"), "4\n").unwrap();
        std::fs::write(d.join("pids.max"), "max\n").unwrap();
        std::fs::write(d.join("memory.stat"), "anon 1\n").unwrap();
        assert_eq!(u64_file(&d.join("pids.current")), Some(4));
        assert_eq!(limit_file(&d.join("pids.max")), Some(Limit::Max));
        assert_eq!(keyed_file(&d.join("memory.stat")).get("anon"), Some(&1));
    }
}
