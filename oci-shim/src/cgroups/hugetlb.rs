//! `resources.hugepageLimits`: v1 `hugetlb.<size>.limit_in_bytes` (and
//! its `.rsvd` twin where the kernel has it, as runc), v2
//! `hugetlb.<size>.max`, wherever the host's hugetlb controller is (a v1
//! mount, the unified mount of a hybrid host, or the v2 hierarchy).
//!
//! The kubelet sends a limit of 0 for every page size the host knows on
//! every container, so a host without the controller would refuse every
//! pod. The rule (docs/cgroups.md): a limit that has no file to go to is
//! skipped, with one warning, only when it cannot weaken anything — a
//! limit of 0 for a size of which the host can allocate no page at all
//! (no reserved pool, no overcommit). Anything else (a non-zero limit, or
//! 0 where pages can be had) is refused, never silently dropped.

use std::path::{Path, PathBuf};

use super::error::CgroupError;
use super::fs::{read_optional, unsupported, write_field};
use crate::spec::LinuxHugepageLimit;

const FIELD: &str = "hugepageLimits";

/// Where the kernel describes each huge page size's pool.
pub const HUGEPAGES_SYSFS: &str = "/sys/kernel/mm/hugepages";

/// Where a cgroup's hugetlb files are, and in which version's names.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target<'a> {
    /// A v1 hugetlb mount's directory for the cgroup.
    V1(&'a Path),
    /// A cgroup2 directory (the unified hierarchy or a hybrid's unified mount).
    V2(&'a Path),
    /// No hugetlb controller anywhere on this host.
    Missing,
}

/// A page size as the kernel names it in file names (`2MB`, `1GB`,
/// `64KB`): digits and a unit, so it can never reach another file.
fn checked_size(size: &str) -> Result<&str, CgroupError> {
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &size[digits.len()..];
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(unit, "KB" | "MB" | "GB");
    if ok {
        Ok(size)
    } else {
        Err(unsupported(
            FIELD,
            format!("page size {size:?} is not of the form <n>KB|MB|GB"),
        ))
    }
}

/// The page size in kB, as `/sys/kernel/mm/hugepages/hugepages-<kB>kB`
/// names it (`2MB` → 2048); `None` when it overflows.
fn size_kb(size: &str) -> Option<u64> {
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let n: u64 = digits.parse().ok()?;
    match &size[digits.len()..] {
        "KB" => Some(n),
        "MB" => n.checked_mul(1024),
        "GB" => n.checked_mul(1024 * 1024),
        _ => None,
    }
}

/// How many pages of `size` a process on this host could get at all: the
/// reserved pool plus what may be overcommitted. 0 when the kernel does
/// not know the size (no directory): nothing can be allocated then either.
pub(super) fn allocatable_pages(sysfs: &Path, size: &str) -> Result<u64, CgroupError> {
    let Some(kb) = size_kb(checked_size(size)?) else {
        return Ok(0);
    };
    let dir = sysfs.join(format!("hugepages-{kb}kB"));
    let mut total: u64 = 0;
    for file in ["nr_hugepages", "nr_overcommit_hugepages"] {
        let path = dir.join(file);
        let Some(text) = read_optional(&path)? else {
            continue;
        };
        let n = text.trim().parse::<u64>().map_err(|_| CgroupError::Parse {
            path: path.clone(),
            content: text.clone(),
        })?;
        total = total.saturating_add(n);
    }
    Ok(total)
}

/// The limit file (and its `.rsvd` twin) of `size` in `target`.
fn files(target: Target<'_>, size: &str) -> Option<(PathBuf, PathBuf)> {
    match target {
        Target::V1(d) => Some((
            d.join(format!("hugetlb.{size}.limit_in_bytes")),
            d.join(format!("hugetlb.{size}.rsvd.limit_in_bytes")),
        )),
        Target::V2(d) => Some((
            d.join(format!("hugetlb.{size}.max")),
            d.join(format!("hugetlb.{size}.rsvd.max")),
        )),
        Target::Missing => None,
    }
}

/// The decision for a limit that has no file to go to: `Ok` when skipping
/// it weakens nothing (a limit of 0 and no page of that size can be
/// allocated on this host), the refusal otherwise.
pub(super) fn may_skip(limit: i64, allocatable: u64, size: &str) -> Result<(), CgroupError> {
    if limit == 0 && allocatable == 0 {
        return Ok(());
    }
    let why = if limit == 0 {
        format!("{allocatable} pages of {size} can be allocated on this host")
    } else {
        format!("a limit of {limit} bytes of {size} pages")
    };
    Err(unsupported(
        FIELD,
        format!("no hugetlb controller for {size} on this host, and skipping it would lift {why}"),
    ))
}

/// Writes every limit to `target`; returns one warning naming the limits
/// that had no file and were skipped by the rule of [`may_skip`] (`None`:
/// everything was written). `sysfs` is [`HUGEPAGES_SYSFS`] but in tests.
pub(super) fn apply(
    target: Target<'_>,
    limits: &[LinuxHugepageLimit],
    sysfs: &Path,
) -> Result<Option<String>, CgroupError> {
    let mut skipped = Vec::new();
    for l in limits {
        let size = checked_size(&l.page_size)?;
        let value = match target {
            Target::V2(_) => super::convert::limit_v2(l.limit),
            _ => l.limit.to_string(),
        };
        match files(target, size).filter(|(f, _)| f.exists()) {
            Some((file, rsvd)) => {
                write_field(&file, &value, FIELD)?;
                if rsvd.exists() {
                    write_field(&rsvd, &value, FIELD)?;
                }
            }
            None => {
                may_skip(l.limit, allocatable_pages(sysfs, size)?, size)?;
                skipped.push(size.to_string());
            }
        }
    }
    Ok((!skipped.is_empty()).then(|| {
        format!(
            "resources.hugepageLimits: no hugetlb controller for {}; the limit of 0 is not \
             written, and holds anyway: this host has no such pages to allocate",
            skipped.join(", ")
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(v: serde_json::Value) -> Vec<LinuxHugepageLimit> {
        serde_json::from_value(v).unwrap()
    }

    /// A fake `/sys/kernel/mm/hugepages` with `(kB, reserved, overcommit)`.
    fn sysfs(pools: &[(u64, u64, u64)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (kb, nr, over) in pools {
            let p = d.path().join(format!("hugepages-{kb}kB"));
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("nr_hugepages"), format!("{nr}\n")).unwrap();
            std::fs::write(p.join("nr_overcommit_hugepages"), format!("{over}\n")).unwrap();
        }
        d
    }

    #[test]
    fn page_sizes_must_be_plain_names() {
        assert!(checked_size("2MB").is_ok());
        assert!(checked_size("1GB").is_ok());
        for bad in ["../2MB", "2MB/x", "MB", "2mb", ""] {
            assert!(checked_size(bad).is_err(), "{bad}");
        }
        assert_eq!(size_kb("2MB"), Some(2048));
        assert_eq!(size_kb("1GB"), Some(1048576));
        assert_eq!(size_kb("64KB"), Some(64));
    }

    #[test]
    fn only_a_zero_limit_with_nothing_allocatable_may_be_skipped() {
        assert!(may_skip(0, 0, "2MB").is_ok());
        let reserved = may_skip(0, 4, "2MB").unwrap_err().to_string();
        assert!(reserved.contains("4 pages of 2MB"), "{reserved}");
        let explicit = may_skip(2097152, 0, "2MB").unwrap_err().to_string();
        assert!(explicit.contains("resources.hugepageLimits"), "{explicit}");
        assert!(may_skip(-1, 0, "2MB").is_err(), "unlimited is not 0 either");
    }

    #[test]
    fn allocatable_pages_count_the_pool_and_overcommit() {
        let s = sysfs(&[(2048, 0, 0), (1048576, 2, 1)]);
        assert_eq!(allocatable_pages(s.path(), "2MB").unwrap(), 0);
        assert_eq!(allocatable_pages(s.path(), "1GB").unwrap(), 3);
        // A size the kernel does not know: nothing can be had.
        assert_eq!(allocatable_pages(s.path(), "16GB").unwrap(), 0);
        let over = sysfs(&[(2048, 0, 8)]);
        assert_eq!(allocatable_pages(over.path(), "2MB").unwrap(), 8);
    }

    #[test]
    fn v1_and_v2_write_their_files() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "hugetlb.2MB.limit_in_bytes",
            "hugetlb.2MB.rsvd.limit_in_bytes",
            "hugetlb.2MB.max",
        ] {
            std::fs::write(d.path().join(f), "").unwrap();
        }
        let s = sysfs(&[]);
        let l = limits(serde_json::json!([{"pageSize": "2MB", "limit": 4194304}]));
        assert_eq!(apply(Target::V1(d.path()), &l, s.path()).unwrap(), None);
        assert_eq!(apply(Target::V2(d.path()), &l, s.path()).unwrap(), None);
        for f in [
            "hugetlb.2MB.limit_in_bytes",
            "hugetlb.2MB.rsvd.limit_in_bytes",
            "hugetlb.2MB.max",
        ] {
            assert_eq!(
                std::fs::read_to_string(d.path().join(f)).unwrap(),
                "4194304"
            );
        }
    }

    #[test]
    fn kubelet_defaults_without_a_controller_warn_once_and_explicit_limits_fail() {
        let s = sysfs(&[(2048, 0, 0), (1048576, 0, 0)]);
        let defaults = limits(serde_json::json!([
            {"pageSize": "2MB", "limit": 0}, {"pageSize": "1GB", "limit": 0}
        ]));
        let warning = apply(Target::Missing, &defaults, s.path())
            .unwrap()
            .expect("one warning");
        assert!(warning.contains("2MB, 1GB"), "{warning}");
        // The same with a controller that lacks one size's file.
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("hugetlb.2MB.max"), "").unwrap();
        let w = apply(Target::V2(d.path()), &defaults, s.path()).unwrap();
        assert!(w.unwrap().contains("1GB"));
        assert_eq!(
            std::fs::read_to_string(d.path().join("hugetlb.2MB.max")).unwrap(),
            "0"
        );

        let explicit = limits(serde_json::json!([{"pageSize": "2MB", "limit": 4194304}]));
        let e = apply(Target::Missing, &explicit, s.path()).unwrap_err();
        assert!(e.to_string().contains("resources.hugepageLimits"), "{e}");
        let reserved = sysfs(&[(2048, 16, 0)]);
        assert!(apply(Target::Missing, &defaults[..1], reserved.path()).is_err());
    }
}
