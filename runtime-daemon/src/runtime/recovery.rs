//! Restart recovery: rebuild memory from the store and reattach to live shims.
//!
//! Shims outlive the daemon. At start every record is loaded; a sandbox whose
//! pause shim no longer answers is NOTREADY; a container whose shim answers is
//! resumed (its exit monitor relaunched); one whose shim is gone has every
//! process of its cgroup killed (nobody else would stop them) and is then
//! EXITED, with the exit the shim recorded in `exit.json` or, failing that,
//! reason `Unknown` and exit code 255. A network-attached sandbox whose record has
//! no IPs gets them from the CNI result cache.

use crate::containers::{ContainerManager, ContainerRecord, ContainerState};
use crate::core::context::Context;
use crate::core::error::{Error, Result};
use crate::core::ids::{ContainerId, SandboxId};
use crate::core::log_span;
use crate::core::store::Kind;
use crate::pods::{SandboxManager, SandboxRecord, SandboxState};
use cradle_proto::shim::ProcessStatus;
use tracing::Instrument as _;

/// Loads and reconciles every sandbox and container.
pub async fn recover(
    ctx: &Context,
    pods: &SandboxManager,
    containers: &ContainerManager,
) -> Result<()> {
    let sandboxes: Vec<(String, SandboxRecord)> = ctx.store.load_all(Kind::Sandbox)?;
    for (id, record) in sandboxes {
        let span = record.log_span();
        let record = recover_sandbox(ctx, &SandboxId::new(id), record)
            .instrument(span)
            .await?;
        pods.restore(record);
    }
    let records: Vec<(String, ContainerRecord)> = ctx.store.load_all(Kind::Container)?;
    let count = records.len();
    for (id, record) in records {
        let pod_name = pods
            .get(&record.typed_sandbox_id())
            .ok()
            .and_then(|pod| log_span::pod_name(pod.config.metadata.as_ref()));
        let span = record.log_span(pod_name.as_deref());
        recover_container(ctx, containers, &ContainerId::new(id), record)
            .instrument(span)
            .await?;
    }
    tracing::info!(
        sandboxes = pods.list().len(),
        containers = count,
        "recovered state"
    );
    Ok(())
}

/// A sandbox whose pause shim is gone becomes NOTREADY; an attached one
/// without recorded IPs gets them from the CNI cache. Returns the record
/// to restore.
async fn recover_sandbox(
    ctx: &Context,
    id: &SandboxId,
    mut record: SandboxRecord,
) -> Result<SandboxRecord> {
    if record.state == SandboxState::Ready {
        let shim = ctx.shims.connect(&id.shim(), &record.shim_dir);
        if !shim.is_alive().await {
            tracing::warn!("pause shim is gone: sandbox not ready");
            record.state = SandboxState::NotReady;
            ctx.store.put(Kind::Sandbox, id.as_str(), &record)?;
        }
    }
    if record.network_attached && record.ips.is_empty() {
        // Attached by a daemon that did not record the IPs: the CNI cache has them.
        let (network, sid) = (std::sync::Arc::clone(&ctx.network), id.clone());
        match tokio::task::spawn_blocking(move || network.cached_ips(&sid)).await {
            Ok(Ok(Some(ips))) => {
                record.ips = ips;
                ctx.store.put(Kind::Sandbox, id.as_str(), &record)?;
            }
            Ok(Ok(None)) => {}
            other => tracing::warn!("reading cached pod IPs: {other:?}"),
        }
    }
    Ok(record)
}

/// Restores one container and reconciles a live one with its shim: a
/// running process is watched again, an exited one recorded, a lost shim's
/// processes killed and the container ended.
async fn recover_container(
    ctx: &Context,
    containers: &ContainerManager,
    id: &ContainerId,
    record: ContainerRecord,
) -> Result<()> {
    let live = matches!(
        record.state,
        ContainerState::Created | ContainerState::Running
    );
    let entry = containers.restore(record.clone());
    if !live {
        return Ok(());
    }
    let shim = ctx.shims.connect(&id.shim(), &record.shim_dir);
    match shim.state().await.map_err(Error::of_shim(shim.id())) {
        Ok(state) => match state.status {
            ProcessStatus::Created => {}
            ProcessStatus::Running => {
                entry.update(|r| {
                    r.state = ContainerState::Running;
                    if let Some(started) = state.started_at_ns {
                        r.started_at = started;
                    }
                });
                crate::containers::persist(ctx, &entry)?;
                containers.watch(entry);
            }
            ProcessStatus::Exited => {
                crate::containers::record_exit(
                    ctx,
                    &entry,
                    state.exit.as_ref(),
                    "the shim reports no exit record",
                )?;
            }
        },
        Err(e) => {
            tracing::warn!("shim is gone: {}", e.chain());
            // Its processes may run on unwatched: they are killed first.
            if let Err(e) = crate::containers::lost(
                ctx,
                &entry,
                shim.as_ref(),
                "the shim was gone at daemon start",
            )
            .await
            {
                tracing::error!("ending the container of a lost shim: {}", e.chain());
            }
        }
    }
    Ok(())
}
