//! ReopenContainerLog: the shim, which writes the container's log, reopens
//! the file (after the kubelet rotated it).

use super::manager::ContainerManager;
use super::record::ContainerState;
use crate::core::error::{Error, Result};
use crate::core::ids::ContainerId;

impl ContainerManager {
    /// ReopenContainerLog: only a running container has a log being written.
    pub async fn reopen_log(&self, id: &ContainerId) -> Result<()> {
        let (id, entry) = self.index.get(id)?;
        let record = entry.snapshot();
        if record.state != ContainerState::Running {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is not running"
            )));
        }
        let shim = self.ctx.shims.connect(&id.shim(), &record.shim_dir);
        shim.reopen_log().await.map_err(Error::of_shim(shim.id()))
    }
}
