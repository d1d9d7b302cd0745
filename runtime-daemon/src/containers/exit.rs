//! How a container ended, recorded: the exit the shim reports, a lost exit,
//! or a process that could not be started. Each persists the record and,
//! on the transition to EXITED, publishes the stopped event.

use super::record::{self, ContainerRecord, ContainerState};
use crate::core::context::Context;
use crate::core::error::Result;
use crate::core::index::Entry;
use crate::core::store::Kind;
use cradle_proto::cri;
use cradle_proto::shim::ExitRecord;

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
    if changed
        && exit.is_some_and(|e| e.oom_killed)
        && let Some(metrics) = crate::metrics::registry::get()
    {
        metrics.oom_kill();
    }
    persist(ctx, entry)?;
    if changed && !entry.is_removed() {
        ctx.events
            .emit(record.event(cri::ContainerEventType::ContainerStoppedEvent));
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
            .emit(record.event(cri::ContainerEventType::ContainerStoppedEvent));
    }
    // The message goes back to the client, which is where it is logged.
    tracing::info!("recorded as ContainerCannotRun");
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
