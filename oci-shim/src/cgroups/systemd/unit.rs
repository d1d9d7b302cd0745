//! The systemd driver's names: a `cgroupsPath` of the form
//! `slice:prefix:name` becomes the transient scope `prefix-name.scope` in
//! `slice`, whose cgroup is the slice's expanded path plus the scope
//! (`kubepods-burstable-pod1.slice` →
//! `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice`),
//! as systemd and runc name them.

use crate::cgroups::error::CgroupError;

/// The slice of a container whose `cgroupsPath` names none (runc's too).
pub const DEFAULT_SLICE: &str = "system.slice";

/// The unit prefix of a container whose spec has no `cgroupsPath`.
pub const DEFAULT_PREFIX: &str = "cradle-oci";

/// A container's transient scope unit: its name, its slice and the path
/// of its cgroup relative to each hierarchy's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    name: String,
    slice: String,
    cgroup_path: String,
}

impl Unit {
    /// The scope for container `id` from the spec's `cgroupsPath`
    /// (`slice:prefix:name`; empty: `system.slice:cradle-oci:<id>`; an
    /// empty slice is `system.slice`, an empty name the container id).
    pub fn from_cgroups_path(cgroups_path: &str, id: &str) -> Result<Self, CgroupError> {
        let bad = |reason: String| CgroupError::InvalidSystemdPath {
            path: cgroups_path.to_string(),
            reason,
        };
        let (slice, prefix, name) = if cgroups_path.is_empty() {
            (DEFAULT_SLICE, DEFAULT_PREFIX, id)
        } else {
            match cgroups_path.split(':').collect::<Vec<_>>().as_slice() {
                [slice, prefix, name] => (*slice, *prefix, *name),
                _ => {
                    return Err(bad(
                        "the systemd cgroup driver wants the form slice:prefix:name".into(),
                    ));
                }
            }
        };
        let slice = if slice.is_empty() {
            DEFAULT_SLICE
        } else {
            slice
        };
        let name = if name.is_empty() { id } else { name };
        check_unit_chars(prefix).map_err(|r| bad(format!("prefix {prefix:?} {r}")))?;
        check_unit_chars(name).map_err(|r| bad(format!("name {name:?} {r}")))?;
        if name.ends_with(".slice") {
            return Err(bad(format!(
                "name {name:?} is a slice: cradle-oci places containers in scopes only"
            )));
        }
        let parent = expand_slice(slice).map_err(bad)?;
        let unit = if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        let cgroup_path = format!("{}/{unit}", parent.trim_end_matches('/'));
        Ok(Unit {
            name: unit,
            slice: slice.to_string(),
            cgroup_path,
        })
    }

    /// The scope a container was placed in, as its state recorded it: the
    /// unit's name and its cgroup path (whose parent names the slice).
    pub fn existing(name: &str, cgroup_path: &str) -> Result<Self, CgroupError> {
        let bad = |reason: String| CgroupError::InvalidSystemdPath {
            path: format!("{cgroup_path} ({name})"),
            reason,
        };
        check_unit_chars(name).map_err(|r| bad(format!("unit {name:?} {r}")))?;
        let path = std::path::Path::new(cgroup_path);
        if !name.ends_with(".scope") || path.file_name() != Some(std::ffi::OsStr::new(name)) {
            return Err(bad(
                "the cgroup path does not end in the scope's name".into()
            ));
        }
        let slice = path.parent().and_then(|p| p.file_name()).map_or_else(
            || "-.slice".to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        Ok(Unit {
            name: name.to_string(),
            slice,
            cgroup_path: cgroup_path.to_string(),
        })
    }

    /// The scope's unit name (`cri-cradle-<id>.scope`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The slice unit it is placed in (`kubepods-burstable-pod1.slice`).
    pub fn slice(&self) -> &str {
        &self.slice
    }

    /// Its cgroup, relative to each hierarchy's root
    /// (`/kubepods.slice/…/cri-cradle-<id>.scope`).
    pub fn cgroup_path(&self) -> &str {
        &self.cgroup_path
    }
}

/// Characters systemd allows in a unit name (`unit_name_is_valid`), which
/// also keeps `/` and NUL out of the cgroup path. An empty string is fine
/// here (an empty prefix); the length is systemd's limit.
fn check_unit_chars(s: &str) -> Result<(), String> {
    if s.len() > 200 {
        return Err("is longer than a unit name may be".into());
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ":-_.\\@".contains(*c)))
    {
        return Err(format!("holds {c:?}, which a unit name may not"));
    }
    if s == "." || s == ".." {
        return Err("is not a name".into());
    }
    Ok(())
}

/// A slice's cgroup path: each dash opens a level (`a-b.slice` →
/// `/a.slice/a-b.slice`), `-.slice` is the root. As runc's `ExpandSlice`:
/// the name ends in `.slice`, holds no `/`, and no component is empty
/// (`a--b.slice`, `-a.slice`).
pub fn expand_slice(slice: &str) -> Result<String, String> {
    const SUFFIX: &str = ".slice";
    let invalid = || format!("invalid slice name {slice:?}");
    let Some(stem) = slice.strip_suffix(SUFFIX) else {
        return Err(invalid());
    };
    if slice.contains('/') || stem.is_empty() {
        return Err(invalid());
    }
    check_unit_chars(slice).map_err(|r| format!("slice {slice:?} {r}"))?;
    if stem == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for component in stem.split('-') {
        if component.is_empty() {
            return Err(invalid());
        }
        path.push('/');
        path.push_str(&prefix);
        path.push_str(component);
        path.push_str(SUFFIX);
        prefix.push_str(component);
        prefix.push('-');
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_expand_one_level_per_dash() {
        assert_eq!(expand_slice("system.slice").unwrap(), "/system.slice");
        assert_eq!(
            expand_slice("kubepods-burstable-pod1.slice").unwrap(),
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice"
        );
        assert_eq!(expand_slice("-.slice").unwrap(), "/");
    }

    #[test]
    fn malformed_slices_are_refused() {
        for s in [
            "a--b.slice",
            "-a.slice",
            "a-.slice",
            ".slice",
            "a/b.slice",
            "kubepods",
            "a b.slice",
        ] {
            assert!(expand_slice(s).is_err(), "{s}");
        }
    }

    #[test]
    fn kubelet_paths_become_scopes_in_their_slice() {
        let u =
            Unit::from_cgroups_path("kubepods-burstable-pod1.slice:cri-cradle:abc", "abc").unwrap();
        assert_eq!(u.name(), "cri-cradle-abc.scope");
        assert_eq!(u.slice(), "kubepods-burstable-pod1.slice");
        assert_eq!(
            u.cgroup_path(),
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-cradle-abc.scope"
        );
    }

    #[test]
    fn empty_parts_take_the_defaults() {
        let u = Unit::from_cgroups_path("", "c1").unwrap();
        assert_eq!(u.name(), "cradle-oci-c1.scope");
        assert_eq!(u.cgroup_path(), "/system.slice/cradle-oci-c1.scope");
        let u = Unit::from_cgroups_path(":cri:", "c2").unwrap();
        assert_eq!(u.name(), "cri-c2.scope");
        assert_eq!(u.slice(), "system.slice");
        let u = Unit::from_cgroups_path("-.slice::c3", "x").unwrap();
        assert_eq!(u.name(), "c3.scope");
        assert_eq!(u.cgroup_path(), "/c3.scope");
    }

    #[test]
    fn a_recorded_scope_is_found_again_by_name_and_path() {
        let u = Unit::from_cgroups_path("kubepods-pod1.slice:cri-cradle:abc", "abc").unwrap();
        assert_eq!(Unit::existing(u.name(), u.cgroup_path()).unwrap(), u);
        assert!(Unit::existing("x.scope", "/a.slice/y.scope").is_err());
        assert!(Unit::existing("x", "/a.slice/x").is_err());
    }

    #[test]
    fn paths_that_are_not_slice_prefix_name_are_refused() {
        for p in [
            "/kubepods/pod1/abc",
            "a.slice:b",
            "a.slice:b:c:d",
            "a.slice:p:../x",
            "a.slice:p/q:x",
            "a.slice:p:x.slice",
            "notaslice:p:x",
        ] {
            let e = Unit::from_cgroups_path(p, "id").unwrap_err();
            assert!(e.to_string().contains(p), "{p}: {e}");
        }
    }
}
