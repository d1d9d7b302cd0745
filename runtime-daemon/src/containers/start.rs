//! StartContainer: the shim starts the created container and an exit
//! [`super::monitor`] is parked on it. A process the OCI runtime cannot
//! start ends the container as `ContainerCannotRun`.

use super::exit::record_cannot_run;
use super::manager::ContainerManager;
use super::record::ContainerState;
use crate::core::error::{Error, Result};
use crate::core::fault;
use crate::core::ids::ContainerId;
use cradle_proto::cri;
use std::sync::Arc;

impl ContainerManager {
    /// StartContainer: only a created container can start.
    pub async fn start(&self, id: &ContainerId) -> Result<()> {
        let (id, entry) = self.index.get(id)?;
        let _op = entry.op.lock().await;
        let record = entry.snapshot();
        if record.state != ContainerState::Created {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is {:?}, not Created",
                record.state
            )));
        }
        if let Some(why) = &record.start_error {
            record_cannot_run(&self.ctx, &entry, why)?;
            return Err(Error::CannotStart {
                id: id.to_string(),
                why: why.clone(),
            });
        }
        let shim = self.ctx.shims.connect(&id.shim(), &record.shim_dir);
        // Taken before the start: a process that exits at once must not look
        // as if it finished before it started.
        let started_at = crate::core::time::now_ns();
        if let Err(e) = shim.start().await.map_err(Error::of_shim(shim.id())) {
            // Whatever half-started must not run on unwatched: the container
            // is over, as containerd's ContainerCannotRun.
            if let Err(kill) = shim
                .kill(libc::SIGKILL, false)
                .await
                .map_err(Error::of_shim(shim.id()))
            {
                tracing::warn!("killing after a failed start: {}", kill.chain());
            }
            record_cannot_run(&self.ctx, &entry, &e.chain().to_string())?;
            return Err(e);
        }
        fault::point("start.started");
        entry.update(|r| {
            r.state = ContainerState::Running;
            r.started_at = started_at;
        });
        self.persist(&entry)?;
        fault::point("start.recorded");
        self.ctx.events.emit(
            entry
                .snapshot()
                .event(cri::ContainerEventType::ContainerStartedEvent),
        );
        self.watch(Arc::clone(&entry));
        tracing::info!("container started");
        Ok(())
    }
}
