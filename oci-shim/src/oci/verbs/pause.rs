//! `cradle-oci pause` and `resume`: freeze and thaw the container's
//! cgroup (every process in it, not just the init). `state` reports a
//! running container whose cgroup is frozen as `paused`.

use std::path::Path;

use crate::oci::error::{OciError, Result};
use crate::oci::state::{ContainerState, Status};

/// Freezes a running container.
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let st = ContainerState::load(root, id)?;
    let status = st.status(root)?;
    if status != Status::Running {
        return Err(OciError::WrongStatus {
            id: id.to_string(),
            status: status.as_str(),
            what: "only a running container can be paused",
        });
    }
    st.cgroup()?.freeze()?;
    Ok(())
}

/// Thaws a paused container.
pub fn resume(root: &Path, id: &str) -> Result<()> {
    let st = ContainerState::load(root, id)?;
    let status = st.status(root)?;
    if status != Status::Paused {
        return Err(OciError::WrongStatus {
            id: id.to_string(),
            status: status.as_str(),
            what: "only a paused container can be resumed",
        });
    }
    st.cgroup()?.thaw()?;
    Ok(())
}
