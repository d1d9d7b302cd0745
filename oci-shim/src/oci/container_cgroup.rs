//! Where a container's cgroup is: the spec's `cgroupsPath`, or one under
//! the launcher's own default parent, which the launcher also cleans up.

use crate::cgroups::{Cgroup, CgroupError};
use crate::spec::Spec;

/// The parent of the cgroups of containers whose spec names none: made
/// by the launcher, so removed by it once its last container is deleted.
pub const DEFAULT_CGROUP_PARENT: &str = "/cradle-oci";

/// After the container's cgroup is gone: removes [`DEFAULT_CGROUP_PARENT`]
/// in every hierarchy where it is empty (no other container's cgroup in
/// it). A parent the spec named is someone else's, never touched.
pub(crate) fn remove_default_parent(cgroup_path: &str) {
    let parent = std::path::Path::new(cgroup_path).parent();
    if parent == Some(std::path::Path::new(DEFAULT_CGROUP_PARENT))
        && let Ok(cg) = Cgroup::new(DEFAULT_CGROUP_PARENT)
    {
        cg.remove_if_empty();
    }
}

/// The container's cgroup: under the systemd driver the scope its
/// `cgroupsPath` (`slice:prefix:name`, or empty) names, refused where
/// systemd does not run; otherwise the directory [`cgroup_path`] names.
pub fn container_cgroup(spec: &Spec, id: &str, systemd: bool) -> Result<Cgroup, CgroupError> {
    if systemd {
        let raw = spec
            .linux
            .as_ref()
            .and_then(|l| l.cgroups_path.as_ref())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        Cgroup::systemd(&raw, id)
    } else {
        Cgroup::new(&cgroup_path(spec, id))
    }
}

/// The cgroup path for the container: the spec's, made absolute, or `/cradle-oci/<id>`.
pub fn cgroup_path(spec: &Spec, id: &str) -> String {
    match spec.linux.as_ref().and_then(|l| l.cgroups_path.as_ref()) {
        Some(p) if !p.as_os_str().is_empty() => {
            let s = p.to_string_lossy();
            if s.starts_with('/') {
                s.into_owned()
            } else {
                format!("/{s}")
            }
        }
        _ => format!("{DEFAULT_CGROUP_PARENT}/{id}"),
    }
}
