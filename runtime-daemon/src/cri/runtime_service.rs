//! `impl RuntimeService`: dispatch only. Each RPC is one line into its family
//! module; those not built yet answer `Unimplemented` by name (see
//! docs/cri-fields.md for why). The stats and metrics RPCs, streamed or
//! not, read files (cgroups, /proc, writable-layer walks), so they run on
//! the blocking pool, off the async workers.

use super::list_streaming::Batches;
use super::{CriService, unimplemented};
use cradle_proto::cri;
use cradle_proto::cri::runtime_service_server::RuntimeService;
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl RuntimeService for CriService {
    type GetContainerEventsStream = super::events::EventStream;
    type StreamPodSandboxesStream = Batches<cri::StreamPodSandboxesResponse>;
    type StreamContainersStream = Batches<cri::StreamContainersResponse>;
    type StreamContainerStatsStream = Batches<cri::StreamContainerStatsResponse>;
    type StreamPodSandboxStatsStream = Batches<cri::StreamPodSandboxStatsResponse>;
    type StreamPodSandboxMetricsStream = Batches<cri::StreamPodSandboxMetricsResponse>;

    async fn attach(
        &self,
        request: Request<cri::AttachRequest>,
    ) -> Result<Response<cri::AttachResponse>, Status> {
        self.attach_impl(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn checkpoint_container(
        &self,
        request: Request<cri::CheckpointContainerRequest>,
    ) -> Result<Response<cri::CheckpointContainerResponse>, Status> {
        let _ = request;
        Err(unimplemented("CheckpointContainer"))
    }

    async fn container_stats(
        &self,
        request: Request<cri::ContainerStatsRequest>,
    ) -> Result<Response<cri::ContainerStatsResponse>, Status> {
        let svc = self.clone();
        let req = request.into_inner();
        blocking(move || svc.container_stats_impl(req))
            .await?
            .map(Response::new)
    }

    async fn container_status(
        &self,
        request: Request<cri::ContainerStatusRequest>,
    ) -> Result<Response<cri::ContainerStatusResponse>, Status> {
        self.container_status_impl(request.into_inner())
            .map(Response::new)
    }

    async fn create_container(
        &self,
        request: Request<cri::CreateContainerRequest>,
    ) -> Result<Response<cri::CreateContainerResponse>, Status> {
        self.create_container_impl(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn exec(
        &self,
        request: Request<cri::ExecRequest>,
    ) -> Result<Response<cri::ExecResponse>, Status> {
        self.exec_impl(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn exec_sync(
        &self,
        request: Request<cri::ExecSyncRequest>,
    ) -> Result<Response<cri::ExecSyncResponse>, Status> {
        self.exec_sync_impl(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_container_stats(
        &self,
        request: Request<cri::ListContainerStatsRequest>,
    ) -> Result<Response<cri::ListContainerStatsResponse>, Status> {
        let svc = self.clone();
        let req = request.into_inner();
        blocking(move || svc.list_container_stats_impl(req))
            .await
            .map(Response::new)
    }

    async fn list_containers(
        &self,
        request: Request<cri::ListContainersRequest>,
    ) -> Result<Response<cri::ListContainersResponse>, Status> {
        Ok(Response::new(
            self.list_containers_impl(request.into_inner()),
        ))
    }

    async fn list_metric_descriptors(
        &self,
        request: Request<cri::ListMetricDescriptorsRequest>,
    ) -> Result<Response<cri::ListMetricDescriptorsResponse>, Status> {
        let _ = request;
        Ok(Response::new(self.list_metric_descriptors_impl()))
    }

    async fn list_pod_sandbox(
        &self,
        request: Request<cri::ListPodSandboxRequest>,
    ) -> Result<Response<cri::ListPodSandboxResponse>, Status> {
        Ok(Response::new(
            self.list_pod_sandbox_impl(request.into_inner()),
        ))
    }

    async fn list_pod_sandbox_metrics(
        &self,
        request: Request<cri::ListPodSandboxMetricsRequest>,
    ) -> Result<Response<cri::ListPodSandboxMetricsResponse>, Status> {
        let _ = request;
        let svc = self.clone();
        blocking(move || svc.list_pod_sandbox_metrics_impl())
            .await
            .map(Response::new)
    }

    async fn list_pod_sandbox_stats(
        &self,
        request: Request<cri::ListPodSandboxStatsRequest>,
    ) -> Result<Response<cri::ListPodSandboxStatsResponse>, Status> {
        let svc = self.clone();
        let req = request.into_inner();
        blocking(move || svc.list_pod_sandbox_stats_impl(req))
            .await
            .map(Response::new)
    }

    async fn pod_sandbox_stats(
        &self,
        request: Request<cri::PodSandboxStatsRequest>,
    ) -> Result<Response<cri::PodSandboxStatsResponse>, Status> {
        let svc = self.clone();
        let req = request.into_inner();
        blocking(move || svc.pod_sandbox_stats_impl(req))
            .await?
            .map(Response::new)
    }

    async fn pod_sandbox_status(
        &self,
        request: Request<cri::PodSandboxStatusRequest>,
    ) -> Result<Response<cri::PodSandboxStatusResponse>, Status> {
        self.pod_sandbox_status_impl(request.into_inner())
            .map(Response::new)
    }

    async fn port_forward(
        &self,
        request: Request<cri::PortForwardRequest>,
    ) -> Result<Response<cri::PortForwardResponse>, Status> {
        self.port_forward_impl(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn remove_container(
        &self,
        request: Request<cri::RemoveContainerRequest>,
    ) -> Result<Response<cri::RemoveContainerResponse>, Status> {
        self.remove_container_impl(request.into_inner()).await?;
        Ok(Response::new(cri::RemoveContainerResponse {}))
    }

    async fn remove_pod_sandbox(
        &self,
        request: Request<cri::RemovePodSandboxRequest>,
    ) -> Result<Response<cri::RemovePodSandboxResponse>, Status> {
        self.remove_pod_sandbox_impl(request.into_inner()).await?;
        Ok(Response::new(cri::RemovePodSandboxResponse {}))
    }

    async fn reopen_container_log(
        &self,
        request: Request<cri::ReopenContainerLogRequest>,
    ) -> Result<Response<cri::ReopenContainerLogResponse>, Status> {
        self.reopen_container_log_impl(request.into_inner()).await?;
        Ok(Response::new(cri::ReopenContainerLogResponse {}))
    }

    async fn run_pod_sandbox(
        &self,
        request: Request<cri::RunPodSandboxRequest>,
    ) -> Result<Response<cri::RunPodSandboxResponse>, Status> {
        self.run_pod_sandbox_impl(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn runtime_config(
        &self,
        request: Request<cri::RuntimeConfigRequest>,
    ) -> Result<Response<cri::RuntimeConfigResponse>, Status> {
        let _ = request;
        Ok(Response::new(self.runtime_config_impl()))
    }

    async fn start_container(
        &self,
        request: Request<cri::StartContainerRequest>,
    ) -> Result<Response<cri::StartContainerResponse>, Status> {
        self.start_container_impl(request.into_inner()).await?;
        Ok(Response::new(cri::StartContainerResponse {}))
    }

    async fn status(
        &self,
        request: Request<cri::StatusRequest>,
    ) -> Result<Response<cri::StatusResponse>, Status> {
        Ok(Response::new(
            self.status_impl(request.into_inner().verbose).await,
        ))
    }

    async fn stop_container(
        &self,
        request: Request<cri::StopContainerRequest>,
    ) -> Result<Response<cri::StopContainerResponse>, Status> {
        self.stop_container_impl(request.into_inner()).await?;
        Ok(Response::new(cri::StopContainerResponse {}))
    }

    async fn stop_pod_sandbox(
        &self,
        request: Request<cri::StopPodSandboxRequest>,
    ) -> Result<Response<cri::StopPodSandboxResponse>, Status> {
        self.stop_pod_sandbox_impl(request.into_inner()).await?;
        Ok(Response::new(cri::StopPodSandboxResponse {}))
    }

    async fn update_container_resources(
        &self,
        request: Request<cri::UpdateContainerResourcesRequest>,
    ) -> Result<Response<cri::UpdateContainerResourcesResponse>, Status> {
        self.update_container_resources_impl(request.into_inner())
            .await?;
        Ok(Response::new(cri::UpdateContainerResourcesResponse {}))
    }

    async fn update_runtime_config(
        &self,
        request: Request<cri::UpdateRuntimeConfigRequest>,
    ) -> Result<Response<cri::UpdateRuntimeConfigResponse>, Status> {
        self.update_runtime_config_impl(request.into_inner());
        Ok(Response::new(cri::UpdateRuntimeConfigResponse {}))
    }

    async fn version(
        &self,
        request: Request<cri::VersionRequest>,
    ) -> Result<Response<cri::VersionResponse>, Status> {
        let _ = request;
        Ok(Response::new(self.version_impl()))
    }

    async fn get_container_events(
        &self,
        request: Request<cri::GetEventsRequest>,
    ) -> Result<Response<Self::GetContainerEventsStream>, Status> {
        let _ = request;
        Ok(Response::new(self.container_events_impl()))
    }

    async fn stream_pod_sandboxes(
        &self,
        request: Request<cri::StreamPodSandboxesRequest>,
    ) -> Result<Response<Self::StreamPodSandboxesStream>, Status> {
        Ok(Response::new(
            self.stream_pod_sandboxes_impl(request.into_inner()),
        ))
    }

    async fn stream_containers(
        &self,
        request: Request<cri::StreamContainersRequest>,
    ) -> Result<Response<Self::StreamContainersStream>, Status> {
        Ok(Response::new(
            self.stream_containers_impl(request.into_inner()),
        ))
    }

    async fn stream_container_stats(
        &self,
        request: Request<cri::StreamContainerStatsRequest>,
    ) -> Result<Response<Self::StreamContainerStatsStream>, Status> {
        let svc = self.clone();
        let req = request.into_inner();
        blocking(move || svc.stream_container_stats_impl(req))
            .await
            .map(Response::new)
    }

    async fn stream_pod_sandbox_stats(
        &self,
        request: Request<cri::StreamPodSandboxStatsRequest>,
    ) -> Result<Response<Self::StreamPodSandboxStatsStream>, Status> {
        let svc = self.clone();
        let req = request.into_inner();
        blocking(move || svc.stream_pod_sandbox_stats_impl(req))
            .await
            .map(Response::new)
    }

    async fn stream_pod_sandbox_metrics(
        &self,
        request: Request<cri::StreamPodSandboxMetricsRequest>,
    ) -> Result<Response<Self::StreamPodSandboxMetricsStream>, Status> {
        let _ = request;
        let svc = self.clone();
        blocking(move || svc.stream_pod_sandbox_metrics_impl())
            .await
            .map(Response::new)
    }

    async fn update_pod_sandbox_resources(
        &self,
        request: Request<cri::UpdatePodSandboxResourcesRequest>,
    ) -> Result<Response<cri::UpdatePodSandboxResourcesResponse>, Status> {
        let _ = request;
        Err(unimplemented("UpdatePodSandboxResources"))
    }
}

/// Runs a file-reading handler on the blocking pool.
async fn blocking<T: Send + 'static>(
    handler: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(handler)
        .await
        .map_err(|e| Status::internal(format!("stats task: {e}")))
}
