//! GetContainerEvents: one server stream per subscriber, fed by the
//! daemon's event broadcast, each event carrying the pod's status and all its
//! containers' statuses as the kubelet's evented PLEG expects.

use super::CriService;
use crate::core::events::ContainerEvent;
use crate::core::ids::SandboxId;
use crate::runtime::Runtime;
use cradle_proto::cri;
use std::sync::Arc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

/// The stream type of `GetContainerEvents`.
pub type EventStream = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<cri::ContainerEventResponse, tonic::Status>> + Send>,
>;

fn response(runtime: &Runtime, event: ContainerEvent) -> cri::ContainerEventResponse {
    let pod_sandbox_status = runtime
        .pods
        .get(&SandboxId::new(&event.sandbox_id))
        .ok()
        .map(|p| p.to_status());
    let mut containers_statuses: Vec<cri::ContainerStatus> = runtime
        .containers
        .list()
        .into_iter()
        .filter(|c| c.sandbox_id == event.sandbox_id)
        .map(|c| c.to_status())
        .collect();
    // A deleted container is no longer listed: report its last status.
    if !containers_statuses
        .iter()
        .any(|c| c.id == event.container_id)
    {
        containers_statuses.push(event.status);
    }
    cri::ContainerEventResponse {
        container_id: event.container_id,
        container_event_type: event.kind as i32,
        created_at: event.at,
        pod_sandbox_status,
        containers_statuses,
    }
}

impl CriService {
    pub(crate) fn container_events_impl(&self) -> EventStream {
        let runtime = Arc::clone(&self.runtime);
        let stream =
            BroadcastStream::new(self.runtime.ctx.events.subscribe()).filter_map(move |item| {
                match item {
                    Ok(event) => Some(Ok(response(&runtime, event))),
                    Err(e) => {
                        tracing::warn!("container event stream fell behind: {e}");
                        None
                    }
                }
            });
        Box::pin(stream)
    }
}
