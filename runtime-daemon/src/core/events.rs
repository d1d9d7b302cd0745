//! Container lifecycle events for `GetContainerEvents` (the kubelet's evented
//! PLEG): created, started, stopped, deleted, broadcast to every open stream.
//! A stream that falls behind loses events (and the kubelet relists), it never
//! slows the managers down.

use cradle_proto::cri;
use tokio::sync::broadcast;

/// Events kept for slow subscribers before they start losing some.
const CAPACITY: usize = 1024;

/// One lifecycle transition of a container.
#[derive(Debug, Clone)]
pub struct ContainerEvent {
    /// The container that changed.
    pub container_id: String,
    /// The pod sandbox it belongs to.
    pub sandbox_id: String,
    /// Which transition (created, started, stopped, deleted).
    pub kind: cri::ContainerEventType,
    /// Nanoseconds since the epoch.
    pub at: i64,
    /// The container's status right after the transition.
    pub status: cri::ContainerStatus,
}

/// The broadcast side, held by the daemon's context.
#[derive(Debug, Clone)]
pub struct Events {
    sender: broadcast::Sender<ContainerEvent>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Events {
    /// Publishes an event (the manager turns its record into one); nobody
    /// listening is fine.
    pub fn emit(&self, event: ContainerEvent) {
        let _ = self.sender.send(event);
    }

    /// A new subscription, seeing events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ContainerEvent> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_see_events_emitted_after_they_subscribe() {
        let events = Events::default();
        let event = |kind| ContainerEvent {
            container_id: "c1".into(),
            sandbox_id: "s1".into(),
            kind,
            at: 2,
            status: cri::ContainerStatus {
                id: "c1".into(),
                state: cri::ContainerState::ContainerRunning as i32,
                ..Default::default()
            },
        };
        events.emit(event(cri::ContainerEventType::ContainerCreatedEvent));
        let mut rx = events.subscribe();
        events.emit(event(cri::ContainerEventType::ContainerStartedEvent));
        let event = rx.recv().await.unwrap();
        assert_eq!(event.kind, cri::ContainerEventType::ContainerStartedEvent);
        assert_eq!(
            (event.container_id.as_str(), event.sandbox_id.as_str()),
            ("c1", "s1")
        );
        assert_eq!(
            event.status.state,
            cri::ContainerState::ContainerRunning as i32
        );
        assert!(rx.try_recv().is_err(), "nothing else was emitted");
    }
}
