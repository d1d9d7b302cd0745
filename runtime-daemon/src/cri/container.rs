//! CreateContainer, StartContainer, StopContainer, RemoveContainer,
//! ContainerStatus, ListContainers, ReopenContainerLog.

use super::filter::{id_matches, labels_match};
use super::{CriService, detached, required};
use crate::core::ids::{ContainerId, SandboxId};
use crate::core::log_span;
use cradle_proto::cri;
use std::sync::Arc;
use tonic::Status;
use tracing::Instrument as _;

impl CriService {
    pub(crate) async fn create_container_impl(
        &self,
        req: cri::CreateContainerRequest,
    ) -> Result<cri::CreateContainerResponse, Status> {
        let sandbox_id = required(&req.pod_sandbox_id, "pod_sandbox_id")?;
        let mut config = req
            .config
            .ok_or_else(|| Status::invalid_argument("config is required"))?;
        if config.metadata.is_none() {
            return Err(Status::invalid_argument("config.metadata is required"));
        }
        // Named from here on, a refusal too; the id is minted inside:
        // `containers.create` records it in this span.
        let (runtime, sandbox_id) = (Arc::clone(&self.runtime), SandboxId::new(sandbox_id));
        let pod = runtime.pods.get(&sandbox_id).ok();
        let pod_name = pod
            .as_ref()
            .and_then(|p| log_span::pod_name(p.config.metadata.as_ref()));
        let span = log_span::Subject {
            pod_id: Some(pod.as_ref().map_or(sandbox_id.as_str(), |p| p.id.as_str())),
            pod_name: pod_name.as_deref(),
            container_id: None,
            container_name: log_span::container_name(config.metadata.as_ref()),
        }
        .call_span();
        explicit_namespaces(&mut config);
        if config.image.as_ref().is_none_or(|i| i.image.is_empty()) {
            return Err(Status::invalid_argument("config.image.image is required"));
        }
        super::validate::container_config(&config)?;
        known_stop_signal(&config)?;
        let id = detached(async move { runtime.create_container(&sandbox_id, config).await })
            .instrument(span)
            .await?;
        Ok(cri::CreateContainerResponse {
            container_id: id.to_string(),
        })
    }

    pub(crate) async fn start_container_impl(
        &self,
        req: cri::StartContainerRequest,
    ) -> Result<(), Status> {
        let id = required(&req.container_id, "container_id")?;
        let (runtime, id) = (Arc::clone(&self.runtime), ContainerId::new(id));
        let span = runtime.container_call_span(&id);
        detached(async move { runtime.containers.start(&id).await })
            .instrument(span)
            .await
    }

    pub(crate) async fn stop_container_impl(
        &self,
        req: cri::StopContainerRequest,
    ) -> Result<(), Status> {
        let id = required(&req.container_id, "container_id")?;
        let (runtime, id, timeout) = (Arc::clone(&self.runtime), ContainerId::new(id), req.timeout);
        let span = runtime.container_call_span(&id);
        detached(async move { runtime.containers.stop(&id, timeout).await })
            .instrument(span)
            .await
    }

    pub(crate) async fn remove_container_impl(
        &self,
        req: cri::RemoveContainerRequest,
    ) -> Result<(), Status> {
        let id = required(&req.container_id, "container_id")?;
        let (runtime, id) = (Arc::clone(&self.runtime), ContainerId::new(id));
        let span = runtime.container_call_span(&id);
        detached(async move { runtime.containers.remove(&id).await })
            .instrument(span)
            .await
    }

    pub(crate) fn container_status_impl(
        &self,
        req: cri::ContainerStatusRequest,
    ) -> Result<cri::ContainerStatusResponse, Status> {
        let id = ContainerId::new(required(&req.container_id, "container_id")?);
        // The call's lines, and its error (NotFound), name the container.
        self.runtime.container_call_span(&id);
        let record = self.runtime.containers.get(&id)?;
        let mut info = std::collections::HashMap::new();
        if req.verbose {
            info.insert("info".to_string(), verbose_info(&record).to_string());
        }
        Ok(cri::ContainerStatusResponse {
            status: Some(record.to_status()),
            info,
        })
    }

    pub(crate) fn list_containers_impl(
        &self,
        req: cri::ListContainersRequest,
    ) -> cri::ListContainersResponse {
        let filter = req.filter.unwrap_or_default();
        // Shared records (no deep copy); the filters read the record, so
        // only the matching ones are turned into list items.
        let mut containers: Vec<cri::Container> = self
            .runtime
            .containers
            .list_shared()
            .iter()
            .filter(|r| id_matches(&r.id, &filter.id))
            .filter(|r| id_matches(&r.sandbox_id, &filter.pod_sandbox_id))
            .filter(|r| {
                let state = r.state.to_cri() as i32;
                filter.state.as_ref().is_none_or(|s| s.state == state)
            })
            .filter(|r| labels_match(&r.config.labels, &filter.label_selector))
            .map(|r| r.to_list_item())
            .collect();
        containers.sort_by_key(|c| c.created_at);
        cri::ListContainersResponse { containers }
    }

    pub(crate) async fn reopen_container_log_impl(
        &self,
        req: cri::ReopenContainerLogRequest,
    ) -> Result<(), Status> {
        let id = ContainerId::new(required(&req.container_id, "container_id")?);
        let span = self.runtime.container_call_span(&id);
        Ok(self
            .runtime
            .containers
            .reopen_log(&id)
            .instrument(span)
            .await?)
    }
}

impl CriService {
    pub(crate) async fn exec_sync_impl(
        &self,
        req: cri::ExecSyncRequest,
    ) -> Result<cri::ExecSyncResponse, Status> {
        let id = ContainerId::new(required(&req.container_id, "container_id")?);
        let timeout = std::time::Duration::from_secs(req.timeout.max(0).unsigned_abs());
        let span = self.runtime.container_call_span(&id);
        let output = self
            .runtime
            .containers
            .exec_sync(&id, &req.cmd, timeout)
            .instrument(span)
            .await?;
        Ok(cri::ExecSyncResponse {
            stdout: output.stdout,
            stderr: output.stderr,
            exit_code: output.exit_code,
        })
    }
}

impl CriService {
    pub(crate) async fn update_container_resources_impl(
        &self,
        req: cri::UpdateContainerResourcesRequest,
    ) -> Result<(), Status> {
        let id = required(&req.container_id, "container_id")?;
        let resources = req
            .linux
            .ok_or_else(|| Status::invalid_argument("linux resources are required"))?;
        let (runtime, id) = (Arc::clone(&self.runtime), ContainerId::new(id));
        let span = runtime.container_call_span(&id);
        detached(async move { runtime.containers.update_resources(&id, resources).await })
            .instrument(span)
            .await
    }
}

/// `ContainerStatus(verbose).info["info"]`, the JSON containerd gives
/// `crictl inspect`: sandbox, pid (0 when not running), runtime, the OCI
/// spec of the bundle, the config as created.
fn verbose_info(record: &crate::containers::ContainerRecord) -> serde_json::Value {
    let pid = crate::stats::process::init_pid(&record.shim_dir)
        .filter(|_| record.state == crate::containers::ContainerState::Running)
        .unwrap_or(0);
    let spec = crate::stats::bundle::runtime_spec(&record.bundle());
    serde_json::json!({
        "sandboxID": record.sandbox_id,
        "pid": pid,
        "runtimeType": record.runtime_handler,
        "runtimeSpec": spec,
        "config": record.config,
    })
}

/// A `stop_signal` outside the CRI's `Signal` enum (a newer kubelet's, or a
/// bad client's) is refused by name rather than replaced by the image's.
fn known_stop_signal(config: &cri::ContainerConfig) -> Result<(), Status> {
    match cri::Signal::try_from(config.stop_signal) {
        Ok(_) => Ok(()),
        Err(_) => Err(Status::invalid_argument(format!(
            "config.stop_signal: {} is not a CRI Signal",
            config.stop_signal
        ))),
    }
}

/// Writes out the CRI's default namespace options (every mode POD, the
/// enum's zero) when the request has none, so the managers see what the
/// CRI means: a container without options shares the pod's pid namespace,
/// as under containerd, instead of getting a private one (where a shell as
/// pid 1 outlives StopContainer's SIGTERM).
fn explicit_namespaces(config: &mut cri::ContainerConfig) {
    let security = config
        .linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default);
    security
        .namespace_options
        .get_or_insert_with(Default::default);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_signal_outside_the_enum_is_refused_by_name() {
        let mut config = cri::ContainerConfig {
            stop_signal: cri::Signal::Sigquit as i32,
            ..Default::default()
        };
        assert!(known_stop_signal(&config).is_ok());
        config.stop_signal = 66;
        let status = known_stop_signal(&config).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().contains("config.stop_signal"),
            "{status:?}"
        );
    }

    #[test]
    fn absent_namespace_options_become_the_cri_defaults() {
        let mut config = cri::ContainerConfig::default();
        explicit_namespaces(&mut config);
        let options = config
            .linux
            .and_then(|l| l.security_context)
            .and_then(|s| s.namespace_options)
            .expect("options written");
        assert_eq!(options.pid, cri::NamespaceMode::Pod as i32);
        assert_eq!(options.network, cri::NamespaceMode::Pod as i32);

        let mut given = cri::ContainerConfig::default();
        given
            .linux
            .get_or_insert_with(Default::default)
            .security_context
            .get_or_insert_with(Default::default)
            .namespace_options = Some(cri::NamespaceOption {
            pid: cri::NamespaceMode::Container as i32,
            ..Default::default()
        });
        let before = given.clone();
        explicit_namespaces(&mut given);
        assert_eq!(given, before, "given options are kept as they are");
    }
}
