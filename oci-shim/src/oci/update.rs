//! `cradle-oci update --resources FILE ID`: apply new `linux.resources` to
//! a live container's cgroup (the CRI's UpdateContainerResources).

use std::io::Read;
use std::path::Path;

use super::error::{OciError, Result};
use super::state::{ContainerState, Status};
use crate::cgroups::Cgroup;
use crate::spec::LinuxResources;

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
    let resources: LinuxResources = serde_json::from_slice(&data).map_err(|e| OciError::Spec {
        path: source.to_path_buf(),
        reason: e.to_string(),
    })?;
    Cgroup::new(&st.cgroup_path)?.apply(&resources)?;
    Ok(())
}

/// The pids of the container's processes (`ps`).
pub fn processes(root: &Path, id: &str) -> Result<Vec<i32>> {
    let st = ContainerState::load(root, id)?;
    Ok(Cgroup::new(&st.cgroup_path)?.processes()?)
}
