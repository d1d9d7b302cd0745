//! RemoveContainer: stop if needed, delete it from the OCI runtime, move its
//! writable layer and bundle into the trash (deleted after the answer),
//! forget it.

use super::manager::ContainerManager;
use super::record::ContainerRecord;
use super::runtime_cmd;
use super::trash;
use crate::core::error::{Error, Result};
use crate::core::fault;
use crate::core::fsutil::remove_dir;
use crate::core::ids::ContainerId;
use crate::core::store::Kind;
use cradle_proto::cri;

impl ContainerManager {
    /// The runtime's delete of an exited container: through its shim (which
    /// then exits; usually it has deleted the container from the runtime
    /// already, at the exit), or, with no shim to ask, by running the
    /// runtime ourselves. The shim is asked first and looked for only when
    /// that fails, saving a round trip on the common path.
    async fn delete_from_runtime(&self, id: &ContainerId, record: &ContainerRecord) -> Result<()> {
        let shim = self.ctx.shims.connect(&id.shim(), &record.shim_dir);
        let result = match shim.delete(true).await.map_err(Error::of_shim(shim.id())) {
            Err(e) if shim.is_alive().await => Err(e),
            Err(_) => {
                let handler = self.ctx.runtime_handler(&record.runtime_handler)?;
                runtime_cmd::force_delete(&handler, id)
                    .await
                    .map_err(|source| Error::RuntimeDelete {
                        id: id.to_string(),
                        source,
                    })
            }
            Ok(()) => Ok(()),
        };
        fault::point("remove.shim_deleted");
        result
    }

    /// RemoveContainer: stop if needed, delete the shim, rootfs and bundle, forget
    /// the container. Unknown: Ok.
    pub async fn remove(&self, id: &ContainerId) -> Result<()> {
        let Ok((id, entry)) = self.index.get(id) else {
            return Ok(());
        };
        let _op = entry.op.lock().await;
        self.stop_locked(&id, &entry, 0).await?;
        let record = entry.snapshot();
        // The exited container's runtime state (the shim's business) and its
        // files (rootfs, bundle) are independent: taken apart together, so
        // the kubelet waits for the slower, not the sum. The files are only
        // unmounted (usually done at the exit already) and renamed into the
        // trash; their deletion runs after the answer, as containerd's
        // background snapshot clean-up.
        let files = {
            let images = self.ctx.images()?;
            let trash = trash::open(&self.ctx)?;
            let (cid, rootfs, dir) = (id.to_string(), record.rootfs(), record.dir.clone());
            crate::core::log_span::spawn_blocking(move || -> Result<Vec<std::path::PathBuf>> {
                let layer = images.discard_rootfs(&cid, &rootfs)?;
                fault::point("remove.rootfs_removed");
                let bundle = trash.discard(&dir)?;
                Ok(layer.into_iter().chain(bundle).collect())
            })
        };
        let (runtime, files) = tokio::join!(self.delete_from_runtime(&id, &record), files);
        let discarded = files.map_err(|e| Error::task("rootfs", e))?;
        // Trashed files are deleted whatever the runtime said.
        if let Ok(entries) = &discarded {
            trash::delete_later(entries.clone());
        }
        runtime?;
        discarded?;
        // Its socket lives there: only once the shim is gone.
        remove_dir(&record.shim_dir)?;
        fault::point("remove.dirs_removed");
        self.ctx.store.delete(Kind::Container, id.as_str())?;
        fault::point("remove.forgotten");
        entry.mark_removed();
        self.index.remove(&id);
        if let Some(name) = ContainerRecord::name_key(&record.typed_sandbox_id(), &record.config) {
            self.names.release(&name, id.as_str());
        }
        self.ctx
            .events
            .emit(record.event(cri::ContainerEventType::ContainerDeletedEvent));
        tracing::info!("container removed");
        Ok(())
    }
}
