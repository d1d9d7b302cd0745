//! RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus, ListPodSandbox.

use super::filter::{id_matches, labels_match};
use super::{CriService, detached, required};
use crate::core::ids::SandboxId;
use crate::core::log_span;
use cradle_proto::cri;
use std::sync::Arc;
use tonic::Status;
use tracing::Instrument as _;

impl CriService {
    pub(crate) async fn run_pod_sandbox_impl(
        &self,
        req: cri::RunPodSandboxRequest,
    ) -> Result<cri::RunPodSandboxResponse, Status> {
        let config = req
            .config
            .ok_or_else(|| Status::invalid_argument("config is required"))?;
        if config.metadata.is_none() {
            return Err(Status::invalid_argument("config.metadata is required"));
        }
        // Named from here on, a refusal too; the id is minted inside:
        // `pods.run` records it in this span.
        let name = log_span::pod_name(config.metadata.as_ref());
        let span = log_span::Subject {
            pod_name: name.as_deref(),
            ..Default::default()
        }
        .call_span();
        super::validate::pod_config(&config)?;
        let handler = req.runtime_handler;
        // A pod user namespace the handler (its features) or the kernel
        // (id-mapped layers) cannot give is refused before anything is made.
        if crate::pods::userns::pod_mappings(&config).is_some()
            && !self
                .runtime
                .containers
                .supports_user_namespaces(&handler)
                .await
        {
            return Err(Status::failed_precondition(format!(
                "config.linux.security_context.namespace_options.userns_options: runtime handler \
                 {handler:?} cannot run a pod in its own user namespace (see Status \
                 runtime_handlers[].features.user_namespaces)"
            )));
        }
        let runtime = Arc::clone(&self.runtime);
        let id = detached(async move { runtime.pods.run(config, &handler).await })
            .instrument(span)
            .await?;
        Ok(cri::RunPodSandboxResponse {
            pod_sandbox_id: id.to_string(),
        })
    }

    pub(crate) async fn stop_pod_sandbox_impl(
        &self,
        req: cri::StopPodSandboxRequest,
    ) -> Result<(), Status> {
        let id = required(&req.pod_sandbox_id, "pod_sandbox_id")?;
        let (runtime, id) = (Arc::clone(&self.runtime), SandboxId::new(id));
        let span = runtime.pod_call_span(&id);
        detached(async move { runtime.stop_pod_sandbox(&id).await })
            .instrument(span)
            .await
    }

    pub(crate) async fn remove_pod_sandbox_impl(
        &self,
        req: cri::RemovePodSandboxRequest,
    ) -> Result<(), Status> {
        let id = required(&req.pod_sandbox_id, "pod_sandbox_id")?;
        let (runtime, id) = (Arc::clone(&self.runtime), SandboxId::new(id));
        let span = runtime.pod_call_span(&id);
        detached(async move { runtime.remove_pod_sandbox(&id).await })
            .instrument(span)
            .await
    }

    pub(crate) fn pod_sandbox_status_impl(
        &self,
        req: cri::PodSandboxStatusRequest,
    ) -> Result<cri::PodSandboxStatusResponse, Status> {
        let id = SandboxId::new(required(&req.pod_sandbox_id, "pod_sandbox_id")?);
        // The call's lines, and its error (NotFound), name the pod.
        self.runtime.pod_call_span(&id);
        let record = self.runtime.pods.get(&id)?;
        let containers_statuses = self
            .runtime
            .containers
            .list_shared()
            .iter()
            .filter(|c| c.sandbox_id == record.id)
            .map(|c| c.to_status())
            .collect();
        let mut info = std::collections::HashMap::new();
        if req.verbose {
            info.insert("info".to_string(), self.sandbox_info(&record));
        }
        Ok(cri::PodSandboxStatusResponse {
            status: Some(record.to_status()),
            info,
            containers_statuses,
            timestamp: crate::core::time::now_ns(),
        })
    }

    /// PodSandboxStatus verbose `info`: the runtime handler the pod runs
    /// with (its binary and root) and its cgroup.
    fn sandbox_info(&self, record: &crate::pods::SandboxRecord) -> String {
        let handler = self
            .runtime
            .ctx
            .runtime_handler(&record.runtime_handler)
            .ok();
        serde_json::json!({
            "runtimeHandler": record.runtime_handler,
            "runtimeType": handler.as_ref().map(|h| h.binary.display().to_string()),
            "runtimeRoot": handler.as_ref().map(|h| h.root.display().to_string()),
            "cgroupPath": record.cgroup_path,
        })
        .to_string()
    }

    pub(crate) fn list_pod_sandbox_impl(
        &self,
        req: cri::ListPodSandboxRequest,
    ) -> cri::ListPodSandboxResponse {
        let filter = req.filter.unwrap_or_default();
        // Shared records (no deep copy); only the matching ones become items.
        let mut items: Vec<cri::PodSandbox> = self
            .runtime
            .pods
            .list_shared()
            .iter()
            .filter(|r| id_matches(&r.id, &filter.id))
            .filter(|r| {
                let state = r.state.to_cri() as i32;
                filter.state.as_ref().is_none_or(|s| s.state == state)
            })
            .filter(|r| labels_match(&r.config.labels, &filter.label_selector))
            .map(|r| r.to_list_item())
            .collect();
        items.sort_by_key(|p| p.created_at);
        cri::ListPodSandboxResponse { items }
    }
}
