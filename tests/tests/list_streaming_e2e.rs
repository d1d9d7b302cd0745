//! The streaming list rpcs (CRIListStreaming, KEP-5825) over the CRI socket:
//! each `Stream*` rpc sends the same items as its unary List rpc, with the
//! same filter, each once, and ends. Its own daemon, registry and cgroup
//! parent, and the leak check at the end.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::collections::BTreeSet;

use anyhow::{Context, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, create_and_start, leak_scope, pod_config, pull, run_pod,
    stop_and_remove_container, stop_and_remove_pod,
};
use cradle_tests::{World, leaks, skip_unless_ready};

/// Every item of a server stream, in batches, each batch checked non-empty.
async fn drain<T, I>(
    mut stream: tonic::Streaming<T>,
    items: impl Fn(T) -> Vec<I>,
) -> anyhow::Result<Vec<I>> {
    let mut all = Vec::new();
    while let Some(batch) = stream.message().await? {
        let batch = items(batch);
        ensure!(!batch.is_empty(), "an empty batch was streamed");
        all.extend(batch);
    }
    Ok(all)
}

/// The ids, checked to hold no duplicate.
fn ids(list: impl IntoIterator<Item = String>) -> anyhow::Result<BTreeSet<String>> {
    let list: Vec<String> = list.into_iter().collect();
    let set: BTreeSet<String> = list.iter().cloned().collect();
    ensure!(set.len() == list.len(), "an item came twice: {list:?}");
    Ok(set)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_rpc_sends_what_its_list_rpc_lists() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = streams(&mut w).await;
    w.finish(result).await;
}

async fn streams(w: &mut World) -> anyhow::Result<()> {
    let cri = &mut w.cri;
    let image = w.registry.image_ref();
    pull(cri, &image).await?;
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod(cri, &pod).await?;
    let config = container_config(&image, "sleeper", &["sleep", "3600"]);
    let id = create_and_start(cri, &pod_id, &pod, config).await?;

    let listed = cri
        .runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await?
        .into_inner()
        .items;
    let streamed = cri
        .runtime
        .stream_pod_sandboxes(cri::StreamPodSandboxesRequest::default())
        .await
        .context("StreamPodSandboxes")?
        .into_inner();
    let streamed = drain(streamed, |b| b.pod_sandboxes).await?;
    ensure!(ids(streamed.into_iter().map(|p| p.id))? == ids(listed.into_iter().map(|p| p.id))?);

    // The filter is the List rpc's: by pod.
    let filter = cri::ContainerFilter {
        pod_sandbox_id: pod_id.clone(),
        ..Default::default()
    };
    let streamed = cri
        .runtime
        .stream_containers(cri::StreamContainersRequest {
            filter: Some(filter),
        })
        .await
        .context("StreamContainers")?
        .into_inner();
    let streamed = drain(streamed, |b| b.containers).await?;
    ensure!(ids(streamed.into_iter().map(|c| c.id))? == BTreeSet::from([id.clone()]));
    let none = cri::ContainerFilter {
        id: "no-such-container".into(),
        ..Default::default()
    };
    let streamed = cri
        .runtime
        .stream_containers(cri::StreamContainersRequest { filter: Some(none) })
        .await?
        .into_inner();
    ensure!(drain(streamed, |b| b.containers).await?.is_empty());

    let streamed = cri
        .runtime
        .stream_container_stats(cri::StreamContainerStatsRequest::default())
        .await
        .context("StreamContainerStats")?
        .into_inner();
    let stats = drain(streamed, |b| b.container_stats).await?;
    let stat_ids = stats.into_iter().filter_map(|s| s.attributes.map(|a| a.id));
    ensure!(ids(stat_ids)? == BTreeSet::from([id.clone()]));

    let streamed = cri
        .runtime
        .stream_pod_sandbox_stats(cri::StreamPodSandboxStatsRequest::default())
        .await
        .context("StreamPodSandboxStats")?
        .into_inner();
    let stats = drain(streamed, |b| b.pod_sandbox_stats).await?;
    let stat_ids = stats.into_iter().filter_map(|s| s.attributes.map(|a| a.id));
    ensure!(ids(stat_ids)? == BTreeSet::from([pod_id.clone()]));

    let listed = cri
        .runtime
        .list_pod_sandbox_metrics(cri::ListPodSandboxMetricsRequest::default())
        .await?
        .into_inner()
        .pod_metrics;
    let streamed = cri
        .runtime
        .stream_pod_sandbox_metrics(cri::StreamPodSandboxMetricsRequest::default())
        .await
        .context("StreamPodSandboxMetrics")?
        .into_inner();
    let streamed = drain(streamed, |b| b.pod_sandbox_metrics).await?;
    ensure!(
        ids(streamed.into_iter().map(|m| m.pod_sandbox_id))?
            == ids(listed.into_iter().map(|m| m.pod_sandbox_id))?
    );

    let listed = cri
        .image
        .list_images(cri::ListImagesRequest::default())
        .await?
        .into_inner()
        .images;
    let streamed = cri
        .image
        .stream_images(cri::StreamImagesRequest::default())
        .await
        .context("StreamImages")?
        .into_inner();
    let streamed = drain(streamed, |b| b.images).await?;
    ensure!(!listed.is_empty(), "the pulled image is not listed");
    ensure!(ids(streamed.into_iter().map(|i| i.id))? == ids(listed.into_iter().map(|i| i.id))?);

    stop_and_remove_container(cri, &id).await?;
    stop_and_remove_pod(cri, &pod_id).await?;
    leaks::assert_none(&leak_scope(&w.daemon, &[&id, &pod_id]));
    Ok(())
}
