//! Hugepage limits a runtime cannot apply and need not.
//!
//! The kubelet puts a limit of 0 for every page size the node has on every
//! container. `cradle-oci` applies hugetlb limits wherever the controller
//! is, the unified mount of a hybrid host included, and decides itself
//! which it may skip (docs/cgroups.md). Other runtimes (runc) look only in
//! their own hierarchy and refuse the container when it has no hugetlb
//! controller. For them the daemon leaves out what could not weaken
//! anything, as containerd's `tolerate_missing_hugetlb_controller` does but
//! narrower: only a limit of 0, only where that runtime's hierarchy has no
//! hugetlb controller, and only for a page size of which the node cannot
//! allocate a single page. Anything else still reaches the runtime, which
//! refuses it.

use std::path::Path;

use cradle_cgroupfs::CGROUP_ROOT;
use cradle_proto::cri;

/// The kernel's per-size hugepage pools.
const HUGEPAGES: &str = "/sys/kernel/mm/hugepages";

/// Removes from `resources` the hugepage limits `handler` could not apply
/// and whose absence weakens nothing on this node; `launcher`: the handler
/// runs `cradle-oci`, which needs none removed.
pub fn drop_unenforceable_zero_limits(
    handler: &str,
    launcher: bool,
    resources: &mut cri::LinuxContainerResources,
) {
    if launcher || has_hugetlb_controller(Path::new(CGROUP_ROOT)) {
        return;
    }
    resources.hugepage_limits.retain(|limit| {
        let keep = limit.limit != 0 || can_allocate(Path::new(HUGEPAGES), &limit.page_size);
        if !keep {
            tracing::debug!(
                handler,
                page_size = %limit.page_size,
                "hugepage limit 0 left out: no hugetlb controller, and no page of this size can be allocated"
            );
        }
        keep
    });
}

/// Whether the v1 hierarchy under `root` has a hugetlb controller, or the
/// v2 one at `root` offers it.
fn has_hugetlb_controller(root: &Path) -> bool {
    root.join("hugetlb/cgroup.procs").exists()
        || std::fs::read_to_string(root.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "hugetlb"))
}

/// Whether the node can hand out a page of `page_size` (`2MB`, `1GB`,
/// `64KB`): some reserved or allowed to overcommit. A size the kernel does
/// not know has no pages; one that cannot be read is assumed to have some.
fn can_allocate(hugepages: &Path, page_size: &str) -> bool {
    let Some(kib) = size_in_kib(page_size) else {
        return true;
    };
    let pool = hugepages.join(format!("hugepages-{kib}kB"));
    if !pool.exists() {
        return false;
    }
    ["nr_hugepages", "nr_overcommit_hugepages"].iter().any(|f| {
        std::fs::read_to_string(pool.join(f))
            .map(|n| n.trim() != "0")
            .unwrap_or(true)
    })
}

/// `2MB` → 2048, as the kernel names its pools in KiB.
fn size_in_kib(page_size: &str) -> Option<u64> {
    let split = page_size.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = page_size.split_at(split);
    let number: u64 = number.parse().ok()?;
    let shift = match unit {
        "KB" => 0,
        "MB" => 10,
        "GB" => 20,
        "TB" => 30,
        _ => return None,
    };
    number.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(dir: &Path, kib: u64, reserved: u32, overcommit: u32) {
        let p = dir.join(format!("hugepages-{kib}kB"));
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("nr_hugepages"), format!("{reserved}\n")).unwrap();
        std::fs::write(p.join("nr_overcommit_hugepages"), format!("{overcommit}\n")).unwrap();
    }

    #[test]
    fn page_sizes_are_named_as_the_kernel_names_its_pools() {
        assert_eq!(size_in_kib("2MB"), Some(2048));
        assert_eq!(size_in_kib("1GB"), Some(1_048_576));
        assert_eq!(size_in_kib("64KB"), Some(64));
        assert_eq!(size_in_kib("2Mi"), None);
        assert_eq!(size_in_kib("MB"), None);
    }

    #[test]
    fn only_a_size_with_no_page_to_hand_out_cannot_allocate() {
        let dir = tempfile::tempdir().unwrap();
        pool(dir.path(), 2048, 0, 0);
        pool(dir.path(), 1_048_576, 0, 4);
        pool(dir.path(), 64, 8, 0);
        assert!(!can_allocate(dir.path(), "2MB"));
        assert!(
            can_allocate(dir.path(), "1GB"),
            "overcommit can hand out pages"
        );
        assert!(can_allocate(dir.path(), "64KB"), "reserved pages");
        assert!(
            !can_allocate(dir.path(), "16GB"),
            "a size the kernel does not have"
        );
        assert!(
            can_allocate(dir.path(), "2Mi"),
            "an unreadable size is kept"
        );
    }

    #[test]
    fn a_controller_in_v1_or_in_v2_is_found() {
        let v1 = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(v1.path().join("hugetlb")).unwrap();
        std::fs::write(v1.path().join("hugetlb/cgroup.procs"), "").unwrap();
        assert!(has_hugetlb_controller(v1.path()));
        let v2 = tempfile::tempdir().unwrap();
        std::fs::write(v2.path().join("cgroup.controllers"), "cpu memory hugetlb\n").unwrap();
        assert!(has_hugetlb_controller(v2.path()));
        let none = tempfile::tempdir().unwrap();
        std::fs::write(none.path().join("cgroup.controllers"), "cpu memory\n").unwrap();
        assert!(!has_hugetlb_controller(none.path()));
    }

    #[test]
    fn cradle_oci_always_gets_every_limit() {
        let mut r = cri::LinuxContainerResources {
            hugepage_limits: vec![cri::HugepageLimit {
                page_size: "2MB".into(),
                limit: 0,
            }],
            ..Default::default()
        };
        drop_unenforceable_zero_limits("cradle-oci", true, &mut r);
        assert_eq!(r.hugepage_limits.len(), 1);
    }
}
