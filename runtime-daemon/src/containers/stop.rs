//! StopContainer: the stop signal, a grace period, then SIGKILL; the exit
//! is recorded as the shim reports it.

use super::exit::record_exit;
use super::lost::lost;
use super::manager::ContainerManager;
use super::record::{ContainerRecord, ContainerState};
use crate::core::error::{Error, Result};
use crate::core::fault;
use crate::core::ids::ContainerId;
use crate::core::index::Entry;
use std::sync::Arc;
use std::time::Duration;

/// How long a SIGKILLed container may take to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(10);

impl ContainerManager {
    /// StopContainer: the stop signal, up to `timeout` seconds, then SIGKILL.
    /// Unknown or already exited: Ok.
    pub async fn stop(&self, id: &ContainerId, timeout: i64) -> Result<()> {
        let Ok((id, entry)) = self.index.get(id) else {
            return Ok(());
        };
        let _op = entry.op.lock().await;
        self.stop_locked(&id, &entry, timeout).await
    }

    /// Stop with the container's operation lock already held (Remove stops
    /// first under the same lock).
    pub(super) async fn stop_locked(
        &self,
        id: &ContainerId,
        entry: &Arc<Entry<ContainerRecord>>,
        timeout: i64,
    ) -> Result<()> {
        let record = entry.snapshot();
        if matches!(
            record.state,
            ContainerState::Exited | ContainerState::Unknown
        ) {
            return Ok(());
        }
        if record.start_error.is_some() {
            // Never created by the runtime: nothing runs, nothing to stop.
            return Ok(());
        }
        let shim = self.ctx.shims.connect(&id.shim(), &record.shim_dir);
        if !shim.is_alive().await {
            return lost(&self.ctx, entry, shim.as_ref(), "the shim is gone").await;
        }
        if record.state == ContainerState::Running && timeout > 0 {
            shim.kill(record.stop_signal, false)
                .await
                .map_err(Error::of_shim(shim.id()))?;
            let grace = Duration::from_secs(timeout.unsigned_abs());
            if let Ok(exit) = shim.wait(Some(grace)).await {
                return record_exit(&self.ctx, entry, Some(&exit), "");
            }
            tracing::info!("stop signal ignored for {grace:?}, killing");
        }
        shim.kill(libc::SIGKILL, false)
            .await
            .map_err(Error::of_shim(shim.id()))?;
        fault::point("stop.signalled");
        let exit = match shim
            .wait(Some(KILL_WAIT))
            .await
            .map_err(Error::of_shim(shim.id()))
        {
            Ok(exit) => exit,
            // A never-started init may not be reported by every runtime: record the kill.
            Err(e) if record.state == ContainerState::Created => {
                tracing::warn!(
                    "no exit reported after killing a created container: {}",
                    e.chain()
                );
                cradle_proto::shim::ExitRecord {
                    exit_code: 128 + libc::SIGKILL,
                    signal: Some(libc::SIGKILL),
                    exited_at_ns: crate::core::time::now_ns(),
                    oom_killed: false,
                    message: String::new(),
                }
            }
            Err(e) => return Err(e),
        };
        record_exit(&self.ctx, entry, Some(&exit), "")?;
        fault::point("stop.recorded");
        Ok(())
    }
}
