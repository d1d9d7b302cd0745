//! The streaming list rpcs (`StreamPodSandboxes`, `StreamContainers`,
//! `StreamContainerStats`, `StreamPodSandboxStats`, `StreamPodSandboxMetrics`,
//! `StreamImages`; Kubernetes' CRIListStreaming, KEP-5825): the same items
//! as the unary List rpc with the same filter, sent in batches so that no
//! message nears gRPC's size limit on a node with many pods. Each item is
//! in exactly one batch, no batch is empty, and the stream ends once all
//! are sent (none at all when nothing matches).

use super::CriService;
use cradle_proto::cri;
use tonic::Status;

/// Items per streamed message: a ContainerStats or a PodSandbox with its
/// labels and annotations stays within a few KiB, so a batch stays far
/// below the kubelet's 16 MiB message limit.
pub const BATCH: usize = 256;

/// The response stream of a streaming list rpc.
pub type Batches<T> = tokio_stream::Iter<std::vec::IntoIter<Result<T, Status>>>;

/// `items` in batches of at most [`BATCH`], each wrapped as its response.
pub fn batches<I, T>(items: Vec<I>, wrap: impl Fn(Vec<I>) -> T) -> Batches<T> {
    let mut responses = Vec::with_capacity(items.len().div_ceil(BATCH));
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        responses.push(Ok(wrap(items.by_ref().take(BATCH).collect())));
    }
    tokio_stream::iter(responses)
}

impl CriService {
    pub(crate) fn stream_pod_sandboxes_impl(
        &self,
        req: cri::StreamPodSandboxesRequest,
    ) -> Batches<cri::StreamPodSandboxesResponse> {
        let list = self.list_pod_sandbox_impl(cri::ListPodSandboxRequest { filter: req.filter });
        batches(list.items, |pod_sandboxes| {
            cri::StreamPodSandboxesResponse { pod_sandboxes }
        })
    }

    pub(crate) fn stream_containers_impl(
        &self,
        req: cri::StreamContainersRequest,
    ) -> Batches<cri::StreamContainersResponse> {
        let list = self.list_containers_impl(cri::ListContainersRequest { filter: req.filter });
        batches(list.containers, |containers| {
            cri::StreamContainersResponse { containers }
        })
    }

    pub(crate) fn stream_container_stats_impl(
        &self,
        req: cri::StreamContainerStatsRequest,
    ) -> Batches<cri::StreamContainerStatsResponse> {
        let list =
            self.list_container_stats_impl(cri::ListContainerStatsRequest { filter: req.filter });
        batches(list.stats, |container_stats| {
            cri::StreamContainerStatsResponse { container_stats }
        })
    }

    pub(crate) fn stream_pod_sandbox_stats_impl(
        &self,
        req: cri::StreamPodSandboxStatsRequest,
    ) -> Batches<cri::StreamPodSandboxStatsResponse> {
        let list = self
            .list_pod_sandbox_stats_impl(cri::ListPodSandboxStatsRequest { filter: req.filter });
        batches(list.stats, |pod_sandbox_stats| {
            cri::StreamPodSandboxStatsResponse { pod_sandbox_stats }
        })
    }

    pub(crate) fn stream_pod_sandbox_metrics_impl(
        &self,
    ) -> Batches<cri::StreamPodSandboxMetricsResponse> {
        let list = self.list_pod_sandbox_metrics_impl();
        batches(list.pod_metrics, |pod_sandbox_metrics| {
            cri::StreamPodSandboxMetricsResponse {
                pod_sandbox_metrics,
            }
        })
    }

    pub(crate) fn stream_images_impl(
        &self,
        req: cri::StreamImagesRequest,
    ) -> Result<Batches<cri::StreamImagesResponse>, Status> {
        let list = self.list_images_impl(cri::ListImagesRequest { filter: req.filter })?;
        Ok(batches(list.images, |images| cri::StreamImagesResponse {
            images,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    async fn sizes(items: usize) -> Vec<usize> {
        let stream = batches((0..items).collect(), |batch: Vec<usize>| batch);
        let batches: Vec<Vec<usize>> = stream.map(|b| b.unwrap()).collect().await;
        let flat: Vec<usize> = batches.iter().flatten().copied().collect();
        assert_eq!(
            flat,
            (0..items).collect::<Vec<_>>(),
            "each item once, in order"
        );
        batches.iter().map(Vec::len).collect()
    }

    #[tokio::test]
    async fn items_go_in_full_batches_none_empty() {
        assert!(sizes(0).await.is_empty(), "nothing to send, no message");
        assert_eq!(sizes(1).await, [1]);
        assert_eq!(sizes(BATCH).await, [BATCH]);
        assert_eq!(sizes(2 * BATCH + 3).await, [BATCH, BATCH, 3]);
    }
}
