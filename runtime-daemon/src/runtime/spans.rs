//! The log spans of the operations on one pod or container, filled from
//! their records (see [`crate::core::log_span`]): what the CRI entry points
//! (the `*_call_span`s, filling the call's own span) and the pod-wide
//! operations (a span of their own) enter. They read the shared records:
//! status calls, which the kubelet makes for every container, fill their
//! span too.

use super::Runtime;
use crate::core::ids::{ContainerId, SandboxId};
use crate::core::log_span::{self, Subject};
use tracing::Span;

impl Runtime {
    /// The span of work on pod `id` (an id or a unique prefix): its id and
    /// name when the pod is known, else the id as given.
    pub fn pod_span(&self, id: &SandboxId) -> Span {
        self.with_pod(id, |subject| subject.span())
    }

    /// The span a CRI call on pod `id` runs in: the call's own, filled as
    /// [`Runtime::pod_span`] would be (see [`Subject::call_span`]).
    pub fn pod_call_span(&self, id: &SandboxId) -> Span {
        self.with_pod(id, |subject| subject.call_span())
    }

    /// The span of work on container `id` (an id or a unique prefix): its
    /// id and name and its pod's when the container is known, else the id
    /// as given.
    pub fn container_span(&self, id: &ContainerId) -> Span {
        self.with_container(id, |subject| subject.span())
    }

    /// The span a CRI call on container `id` runs in: the call's own,
    /// filled as [`Runtime::container_span`] would be (see
    /// [`Subject::call_span`]).
    pub fn container_call_span(&self, id: &ContainerId) -> Span {
        self.with_container(id, |subject| subject.call_span())
    }

    /// The `namespace/name` of pod `id`, when it is known.
    pub fn pod_name(&self, id: &SandboxId) -> Option<String> {
        let record = self.pods.get_shared(id).ok()?;
        log_span::pod_name(record.config.metadata.as_ref())
    }

    /// `f` of what the log lines about pod `id` carry.
    fn with_pod<R>(&self, id: &SandboxId, f: impl FnOnce(Subject<'_>) -> R) -> R {
        let Ok(record) = self.pods.get_shared(id) else {
            return f(Subject {
                pod_id: Some(id.as_str()),
                ..Subject::default()
            });
        };
        let name = log_span::pod_name(record.config.metadata.as_ref());
        f(Subject {
            pod_id: Some(&record.id),
            pod_name: name.as_deref(),
            ..Subject::default()
        })
    }

    /// `f` of what the log lines about container `id` carry.
    fn with_container<R>(&self, id: &ContainerId, f: impl FnOnce(Subject<'_>) -> R) -> R {
        let Ok(record) = self.containers.get_shared(id) else {
            return f(Subject {
                container_id: Some(id.as_str()),
                ..Subject::default()
            });
        };
        let pod_name = self.pod_name(&record.typed_sandbox_id());
        f(Subject {
            pod_id: Some(&record.sandbox_id),
            pod_name: pod_name.as_deref(),
            container_id: Some(&record.id),
            container_name: log_span::container_name(record.config.metadata.as_ref()),
        })
    }
}
