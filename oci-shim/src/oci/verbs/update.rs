//! `cradle-oci update --resources FILE ID`: apply new `linux.resources` to
//! a live container's cgroup (the CRI's UpdateContainerResources).

use std::io::Read;
use std::path::Path;

use crate::cgroups::Cgroup;
use crate::oci::error::{OciError, Result};
use crate::oci::state::{ContainerState, Status};
use crate::spec::{LinuxDeviceCgroup, LinuxResources};

/// Reads the resources JSON from `source` (`-` for stdin) and applies it.
pub fn update(root: &Path, id: &str, source: &Path) -> Result<()> {
    let st = ContainerState::load(root, id)?;
    if st.status(root)? == Status::Stopped {
        return Err(OciError::NotRunning(id.to_string()));
    }
    let mut data = Vec::new();
    if source == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut data)
            .map_err(|e| OciError::io("read", "stdin", e))?;
    } else {
        data = std::fs::read(source).map_err(|e| OciError::io("read", source, e))?;
    }
    let mut resources: LinuxResources =
        serde_json::from_slice(&data).map_err(|e| OciError::Spec {
            path: source.to_path_buf(),
            reason: e.to_string(),
        })?;
    let cgroup = st.cgroup()?;
    let mut st = st;
    let new_rules = resources.devices.take().unwrap_or_default();
    if !new_rules.is_empty() {
        st.device_rules.extend(new_rules.iter().cloned());
        resources.devices = Some(device_rules_to_write(
            cgroup.hierarchy().is_v2(),
            &st.device_rules,
            new_rules,
        ));
    }
    for warning in cgroup.apply(&resources)? {
        crate::oci::log::warn(&format!("container {id}: {warning}"));
    }
    st.save(root)
}

/// The rules an update writes: on v1 the new ones only (each line of the
/// devices files adds to what is in force, and rewriting the rest would
/// start with a deny-all and briefly cut the container off its devices);
/// on v2 all of them, since the new eBPF program replaces the old whole.
fn device_rules_to_write(
    v2: bool,
    all: &[LinuxDeviceCgroup],
    new: Vec<LinuxDeviceCgroup>,
) -> Vec<LinuxDeviceCgroup> {
    if v2 { all.to_vec() } else { new }
}

/// The pids of the container's processes (`ps`).
pub fn processes(root: &Path, id: &str) -> Result<Vec<i32>> {
    let st = ContainerState::load(root, id)?;
    Ok(Cgroup::new(&st.cgroup_path)?.processes()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(minor: i64) -> LinuxDeviceCgroup {
        LinuxDeviceCgroup {
            allow: true,
            minor: Some(minor),
            ..Default::default()
        }
    }

    #[test]
    fn v2_rewrites_every_rule_and_v1_only_the_new_ones() {
        let all = [rule(3), rule(5)];
        assert_eq!(
            device_rules_to_write(true, &all, vec![rule(5)]),
            all.to_vec()
        );
        assert_eq!(
            device_rules_to_write(false, &all, vec![rule(5)]),
            vec![rule(5)]
        );
    }
}
