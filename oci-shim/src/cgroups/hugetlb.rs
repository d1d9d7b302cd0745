//! `resources.hugepageLimits`: v1 `hugetlb.<size>.limit_in_bytes` (and
//! its `.rsvd` twin where the kernel has it, as runc), v2
//! `hugetlb.<size>.max`.

use std::path::Path;

use super::CgroupError;
use super::fs::{unsupported, write_field};
use crate::spec::LinuxHugepageLimit;

const FIELD: &str = "hugepageLimits";

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

/// v1: `dir` is the container's hugetlb directory (`None`: not mounted).
pub(super) fn apply_v1(
    dir: Option<&Path>,
    limits: &[LinuxHugepageLimit],
) -> Result<(), CgroupError> {
    if limits.is_empty() {
        return Ok(());
    }
    let Some(dir) = dir else {
        return Err(unsupported(FIELD, "no hugetlb controller is mounted"));
    };
    for l in limits {
        let size = checked_size(&l.page_size)?;
        let value = l.limit.to_string();
        write_field(
            &dir.join(format!("hugetlb.{size}.limit_in_bytes")),
            &value,
            FIELD,
        )?;
        let rsvd = dir.join(format!("hugetlb.{size}.rsvd.limit_in_bytes"));
        if rsvd.exists() {
            write_field(&rsvd, &value, FIELD)?;
        }
    }
    Ok(())
}

/// v2: `hugetlb.<size>.max` (and `.rsvd.max`) in `dir`.
pub(super) fn apply_v2(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    for l in limits {
        let size = checked_size(&l.page_size)?;
        let value = super::convert::limit_v2(l.limit);
        write_field(&dir.join(format!("hugetlb.{size}.max")), &value, FIELD)?;
        let rsvd = dir.join(format!("hugetlb.{size}.rsvd.max"));
        if rsvd.exists() {
            write_field(&rsvd, &value, FIELD)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(v: serde_json::Value) -> Vec<LinuxHugepageLimit> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn page_sizes_must_be_plain_names() {
        assert!(checked_size("2MB").is_ok());
        assert!(checked_size("1GB").is_ok());
        for bad in ["../2MB", "2MB/x", "MB", "2mb", ""] {
            assert!(checked_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn v1_and_v2_write_their_files_and_name_the_field_when_missing() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "hugetlb.2MB.limit_in_bytes",
            "hugetlb.2MB.rsvd.limit_in_bytes",
            "hugetlb.2MB.max",
        ] {
            std::fs::write(d.path().join(f), "").unwrap();
        }
        let l = limits(serde_json::json!([{"pageSize": "2MB", "limit": 4194304}]));
        apply_v1(Some(d.path()), &l).unwrap();
        apply_v2(d.path(), &l).unwrap();
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
        let e = apply_v1(None, &l).unwrap_err();
        assert!(e.to_string().contains("resources.hugepageLimits"), "{e}");
        let g = limits(serde_json::json!([{"pageSize": "1GB", "limit": 0}]));
        assert!(apply_v2(d.path(), &g).is_err(), "no 1GB file here");
    }
}
