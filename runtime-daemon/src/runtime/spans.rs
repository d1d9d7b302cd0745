//! The log spans of the operations on one pod or container, filled from
//! their records (see [`crate::core::log_span`]): what the CRI entry points
//! and the pod-wide operations enter.

use super::Runtime;
use crate::core::ids::{ContainerId, SandboxId};
use crate::core::log_span;
use tracing::Span;

impl Runtime {
    /// The span of work on pod `id` (an id or a unique prefix): its id and
    /// name when the pod is known, else the id as given.
    pub fn pod_span(&self, id: &SandboxId) -> Span {
        match self.pods.get(id) {
            Ok(record) => record.log_span(),
            Err(_) => log_span::pod(Some(id.as_str()), None),
        }
    }

    /// The span of work on container `id` (an id or a unique prefix): its
    /// id and name and its pod's when the container is known, else the id
    /// as given.
    pub fn container_span(&self, id: &ContainerId) -> Span {
        match self.containers.get(id) {
            Ok(record) => record.log_span(self.pod_name(&record.typed_sandbox_id()).as_deref()),
            Err(_) => log_span::container(Some(id.as_str()), None, None, None),
        }
    }

    /// The `namespace/name` of pod `id`, when it is known.
    pub fn pod_name(&self, id: &SandboxId) -> Option<String> {
        let record = self.pods.get(id).ok()?;
        log_span::pod_name(record.config.metadata.as_ref())
    }
}
