//! The container manager.
//!
//! A container is an overlay rootfs from the image store, a bundle
//! (`<root>/containers/<id>/bundle/{config.json,rootfs}`) and a `cradle-shim`
//! that created it with the OCI runtime and watches it. Create builds them in
//! that order and unwinds in reverse on failure; Start asks the shim to start
//! it and parks a [`monitor`] on the shim's `Wait`; Stop signals and waits;
//! the exit monitor unmounts the rootfs of a container that exited;
//! Remove deletes the shim, moves the writable layer (with the container's
//! read-only [`image_volumes`] unmounted) and the bundle into a [`trash`]
//! and deletes them after answering. A process the OCI
//! runtime cannot create or start (a command missing from the image) ends
//! the container at Start as `ContainerCannotRun`, exit code 128, as
//! containerd reports it.

pub mod cdi;
mod create;
pub mod devices;
pub mod exec;
pub mod features;
mod hugetlb;
mod image_volumes;
mod log_path;
mod lost;
pub mod monitor;
mod propagation;
mod record;
mod runtime_cmd;
pub mod spec;
mod trash;
pub mod users;

pub(crate) use lost::lost;
pub use record::{ContainerRecord, ContainerState};
pub(crate) use trash::empty as empty_trash;

use crate::error::{Error, Result};
use crate::fault;
use crate::index::{Entry, Index};
use crate::names::NameIndex;
use crate::pods::remove_dir;
use crate::runtime::Context;
use crate::shim_client::ShimClient;
use crate::store::Kind;
use cradle_proto::cri;
use cradle_proto::shim::ExitRecord;
use std::sync::Arc;
use std::time::Duration;

/// How long a SIGKILLed container may take to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// Owns every container.
pub struct ContainerManager {
    ctx: Arc<Context>,
    index: Arc<Index<ContainerRecord>>,
    names: Arc<NameIndex>,
    features: features::HandlerFeatures,
}

impl ContainerManager {
    pub fn new(ctx: Arc<Context>) -> Self {
        ContainerManager {
            ctx,
            index: Arc::new(Index::new("container")),
            names: NameIndex::new("container"),
            features: features::HandlerFeatures::default(),
        }
    }

    /// Whether runtime handler `handler` (and the kernel) can make
    /// recursive read-only mounts; unknown handlers cannot.
    pub async fn supports_recursive_read_only(&self, handler: &str) -> bool {
        match self.ctx.runtime_handler(handler) {
            Ok((_, binary)) => self.features.recursive_read_only(&binary).await,
            Err(_) => false,
        }
    }

    /// A snapshot of one container.
    pub fn get(&self, id_or_prefix: &str) -> Result<ContainerRecord> {
        self.index.get(id_or_prefix).map(|(_, e)| e.snapshot())
    }

    /// Snapshots of every container (from memory).
    pub fn list(&self) -> Vec<ContainerRecord> {
        self.index.all().iter().map(|e| e.snapshot()).collect()
    }

    /// Ids of the containers of one sandbox.
    pub fn ids_in_sandbox(&self, sandbox_id: &str) -> Vec<String> {
        self.list()
            .into_iter()
            .filter(|c| c.sandbox_id == sandbox_id)
            .map(|c| c.id)
            .collect()
    }

    /// Whether any container runs on image `image_id`. Images shown by
    /// image volumes are guarded by the image store itself, from its
    /// on-disk volume records (RemoveImage then fails as in use).
    pub fn uses_image(&self, image_id: &str) -> bool {
        self.list().iter().any(|c| c.image_id == image_id)
    }

    /// Re-registers a loaded record (recovery) and returns its entry.
    pub fn restore(&self, record: ContainerRecord) -> Arc<Entry<ContainerRecord>> {
        if let Some(name) = ContainerRecord::name_key(&record.sandbox_id, &record.config) {
            self.names.restore(&name, &record.id);
        }
        let entry = Entry::new(record.clone());
        self.index.insert(&record.id, Arc::clone(&entry));
        entry
    }

    /// Writes the entry's record through to the store unless it was removed.
    fn persist(&self, entry: &Entry<ContainerRecord>) -> Result<()> {
        persist(&self.ctx, entry)
    }

    /// Starts the exit monitor of a running container.
    pub fn watch(&self, entry: Arc<Entry<ContainerRecord>>) {
        tokio::spawn(monitor::watch(Arc::clone(&self.ctx), entry));
    }

    /// StartContainer: only a created container can start.
    pub async fn start(&self, id: &str) -> Result<()> {
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
            return Err(Error::shim(
                &id,
                format!("cannot start the container: {why}"),
            ));
        }
        let shim = ShimClient::new(&id, &record.shim_dir);
        // Taken before the start: a process that exits at once must not look
        // as if it finished before it started.
        let started_at = crate::time::now_ns();
        if let Err(e) = shim.start().await {
            // Whatever half-started must not run on unwatched: the container
            // is over, as containerd's ContainerCannotRun.
            if let Err(kill) = shim.kill(libc::SIGKILL, false).await {
                tracing::warn!(container = %id, "killing after a failed start: {kill}");
            }
            record_cannot_run(&self.ctx, &entry, &e.to_string())?;
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
            cri::ContainerEventType::ContainerStartedEvent,
            &entry.snapshot(),
        );
        self.watch(Arc::clone(&entry));
        tracing::info!(container = %id, "container started");
        Ok(())
    }

    /// UpdateContainerResources: the OCI runtime writes the new limits into
    /// the container's cgroup (`<runtime> update`); they are kept in its config.
    pub async fn update_resources(
        &self,
        id: &str,
        mut resources: cri::LinuxContainerResources,
    ) -> Result<()> {
        let (id, entry) = self.index.get(id)?;
        let _op = entry.op.lock().await;
        let record = entry.snapshot();
        if !matches!(
            record.state,
            ContainerState::Created | ContainerState::Running
        ) {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is {:?}: its resources cannot change",
                record.state
            )));
        }
        let (handler, binary) = self.ctx.runtime_handler(&record.runtime_handler)?;
        hugetlb::drop_unenforceable_zero_limits(&handler, &mut resources);
        let oci = spec::update_resources(&resources)
            .map_err(|e| Error::InvalidArgument(format!("resources of container {id}: {e}")))?;
        let json = serde_json::to_vec(&oci)
            .map_err(|e| Error::Internal(format!("resources of container {id}: {e}")))?;
        let root = self.ctx.config.state_dir.join("runtime").join(handler);
        runtime_cmd::update(&binary, &root, &id, &json)
            .await
            .map_err(|e| {
                let msg = format!("resources of container {id}: {e}");
                match e {
                    runtime_cmd::UpdateError::Refused(_) => Error::InvalidArgument(msg),
                    runtime_cmd::UpdateError::TimedOut(_) => Error::DeadlineExceeded(msg),
                    runtime_cmd::UpdateError::Run(_) => Error::Internal(msg),
                }
            })?;
        entry.update(|r| {
            r.config
                .linux
                .get_or_insert_with(Default::default)
                .resources = Some(resources);
        });
        self.persist(&entry)?;
        tracing::info!(container = %id, "resources updated");
        Ok(())
    }

    /// StopContainer: the stop signal, up to `timeout` seconds, then SIGKILL.
    /// Unknown or already exited: Ok.
    pub async fn stop(&self, id: &str, timeout: i64) -> Result<()> {
        let Ok((id, entry)) = self.index.get(id) else {
            return Ok(());
        };
        let _op = entry.op.lock().await;
        self.stop_locked(&id, &entry, timeout).await
    }

    async fn stop_locked(
        &self,
        id: &str,
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
        let shim = ShimClient::new(id, &record.shim_dir);
        if !shim.is_alive().await {
            return lost(&self.ctx, entry, &shim, "the shim is gone").await;
        }
        if record.state == ContainerState::Running && timeout > 0 {
            shim.kill(record.stop_signal, false).await?;
            let grace = Duration::from_secs(timeout.unsigned_abs());
            if let Ok(exit) = shim.wait(Some(grace)).await {
                return record_exit(&self.ctx, entry, Some(&exit), "");
            }
            tracing::info!(container = %id, "stop signal ignored for {grace:?}, killing");
        }
        shim.kill(libc::SIGKILL, false).await?;
        fault::point("stop.signalled");
        let exit = match shim.wait(Some(KILL_WAIT)).await {
            Ok(exit) => exit,
            // A never-started init may not be reported by every runtime: record the kill.
            Err(e) if record.state == ContainerState::Created => {
                tracing::warn!(container = %id, "no exit reported after killing a created container: {e}");
                cradle_proto::shim::ExitRecord {
                    exit_code: 128 + libc::SIGKILL,
                    signal: Some(libc::SIGKILL),
                    exited_at_ns: crate::time::now_ns(),
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

    /// The runtime's delete of an exited container: through its shim (which
    /// then exits; usually it has deleted the container from the runtime
    /// already, at the exit), or, with no shim to ask, by running the
    /// runtime ourselves. The shim is asked first and looked for only when
    /// that fails, saving a round trip on the common path.
    async fn delete_from_runtime(&self, id: &str, record: &ContainerRecord) -> Result<()> {
        let shim = ShimClient::new(id, &record.shim_dir);
        let result = match shim.delete(true).await {
            Err(e) if shim.is_alive().await => Err(e),
            Err(_) => {
                let (handler, binary) = self.ctx.runtime_handler(&record.runtime_handler)?;
                let root = self.ctx.config.state_dir.join("runtime").join(handler);
                runtime_cmd::force_delete(&binary, &root, id)
                    .await
                    .map_err(|message| Error::shim(id, message))
            }
            Ok(()) => Ok(()),
        };
        fault::point("remove.shim_deleted");
        result
    }

    /// RemoveContainer: stop if needed, delete the shim, rootfs and bundle, forget
    /// the container. Unknown: Ok.
    pub async fn remove(&self, id: &str) -> Result<()> {
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
            let (cid, rootfs, dir) = (id.clone(), record.rootfs(), record.dir.clone());
            tokio::task::spawn_blocking(move || -> Result<Vec<std::path::PathBuf>> {
                let layer = images.discard_rootfs(&cid, &rootfs)?;
                fault::point("remove.rootfs_removed");
                let bundle = trash.discard(&dir)?;
                Ok(layer.into_iter().chain(bundle).collect())
            })
        };
        let (runtime, files) = tokio::join!(self.delete_from_runtime(&id, &record), files);
        let discarded = files.map_err(|e| Error::Internal(format!("rootfs task: {e}")))?;
        // Trashed files are deleted whatever the runtime said.
        if let Ok(entries) = &discarded {
            trash::delete_later(&id, entries.clone());
        }
        runtime?;
        discarded?;
        // Its socket lives there: only once the shim is gone.
        remove_dir(&record.shim_dir)?;
        fault::point("remove.dirs_removed");
        self.ctx.store.delete(Kind::Container, &id)?;
        fault::point("remove.forgotten");
        entry.mark_removed();
        self.index.remove(&id);
        if let Some(name) = ContainerRecord::name_key(&record.sandbox_id, &record.config) {
            self.names.release(&name, &id);
        }
        self.ctx
            .events
            .emit(cri::ContainerEventType::ContainerDeletedEvent, &record);
        tracing::info!(container = %id, "container removed");
        Ok(())
    }
}

/// Writes the entry's record through unless the container was removed meanwhile.
pub(crate) fn persist(ctx: &Context, entry: &Entry<ContainerRecord>) -> Result<()> {
    if entry.is_removed() {
        return Ok(());
    }
    let record = entry.snapshot();
    ctx.store.put(Kind::Container, &record.id, &record)?;
    Ok(())
}

/// Records how the container ended (`None`: nobody knows, see
/// [`ContainerRecord::apply_lost`]), persists it and, on the transition to
/// EXITED, publishes the stopped event. Idempotent.
pub(crate) fn record_exit(
    ctx: &Context,
    entry: &Entry<ContainerRecord>,
    exit: Option<&ExitRecord>,
    why: &str,
) -> Result<()> {
    let mut changed = false;
    let message = termination_message(&entry.snapshot());
    let record = entry.update(|r| {
        changed = r.state != ContainerState::Exited;
        match exit {
            Some(exit) => r.apply_exit(exit),
            None => r.apply_lost(why),
        }
        if changed && r.message.is_empty() {
            r.message = message.unwrap_or_default();
        }
    });
    persist(ctx, entry)?;
    if changed && !entry.is_removed() {
        ctx.events
            .emit(cri::ContainerEventType::ContainerStoppedEvent, &record);
    }
    Ok(())
}

/// Records that the container's process could not be started (exit code
/// 128, reason `ContainerCannotRun`, the runtime's words as the message),
/// persists it and publishes the stopped event. Idempotent.
pub(crate) fn record_cannot_run(
    ctx: &Context,
    entry: &Entry<ContainerRecord>,
    message: &str,
) -> Result<()> {
    let mut changed = false;
    let record = entry.update(|r| {
        changed = r.state != ContainerState::Exited;
        r.apply_cannot_run(message);
    });
    persist(ctx, entry)?;
    if changed && !entry.is_removed() {
        ctx.events
            .emit(cri::ContainerEventType::ContainerStoppedEvent, &record);
    }
    tracing::warn!(container = %record.id, "container cannot run: {message}");
    Ok(())
}

/// What the container wrote to its termination message file (at most
/// 4 KiB, trailing whitespace kept as written), for ContainerStatus.message.
fn termination_message(record: &ContainerRecord) -> Option<String> {
    use std::io::Read;
    let path = record.termination_log()?;
    let file = std::fs::File::open(&path).ok()?;
    let mut bytes = Vec::new();
    file.take(record::MAX_TERMINATION_MESSAGE)
        .read_to_end(&mut bytes)
        .ok()?;
    (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned())
}

/// Parses an image STOPSIGNAL (`SIGTERM`, `TERM`, or a number from 1 to
/// 64); SIGTERM when absent, or (with a warning naming it) when it is no
/// signal.
pub fn parse_stop_signal(value: Option<&str>) -> i32 {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return libc::SIGTERM;
    };
    let parsed = match value.parse::<i32>() {
        Ok(n) => Some(n).filter(|n| (1..=64).contains(n)),
        Err(_) => {
            let upper = value.to_ascii_uppercase();
            let name = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            name.parse::<nix::sys::signal::Signal>()
                .ok()
                .map(|s| s as i32)
        }
    };
    parsed.unwrap_or_else(|| {
        tracing::warn!("image STOPSIGNAL {value:?} is not a signal: SIGTERM stops the container");
        libc::SIGTERM
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_signal_accepts_names_and_numbers() {
        assert_eq!(parse_stop_signal(None), libc::SIGTERM);
        assert_eq!(parse_stop_signal(Some("SIGINT")), libc::SIGINT);
        assert_eq!(parse_stop_signal(Some("quit")), libc::SIGQUIT);
        assert_eq!(parse_stop_signal(Some("9")), 9);
        assert_eq!(parse_stop_signal(Some("SIGBOGUS")), libc::SIGTERM);
        assert_eq!(parse_stop_signal(Some("SIGUSR1")), libc::SIGUSR1);
        assert_eq!(parse_stop_signal(Some("99")), libc::SIGTERM);
        assert_eq!(parse_stop_signal(Some("0")), libc::SIGTERM);
    }
}
