//! The calls a kubelet makes over and over on a busy node (PLEG relists,
//! the stats and eviction managers), timed back to back, unfiltered as the
//! kubelet sends them.

use std::time::{Duration, Instant};

use cradle_proto::cri;
use serde::Serialize;

use crate::client::Cri;
use crate::stats::Summary;

/// One of the repeated list and stats calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rpc {
    ListPodSandbox,
    ListContainers,
    ListContainerStats,
    ListPodSandboxStats,
    ImageFsInfo,
}

impl Rpc {
    /// All of them, in the order they are measured.
    pub const ALL: [Rpc; 5] = [
        Rpc::ListPodSandbox,
        Rpc::ListContainers,
        Rpc::ListContainerStats,
        Rpc::ListPodSandboxStats,
        Rpc::ImageFsInfo,
    ];

    /// The CRI method name.
    pub fn name(self) -> &'static str {
        match self {
            Rpc::ListPodSandbox => "ListPodSandbox",
            Rpc::ListContainers => "ListContainers",
            Rpc::ListContainerStats => "ListContainerStats",
            Rpc::ListPodSandboxStats => "ListPodSandboxStats",
            Rpc::ImageFsInfo => "ImageFsInfo",
        }
    }

    /// Makes the call once; how many items came back.
    pub async fn call(self, cri: &mut Cri) -> Result<usize, tonic::Status> {
        let r = &mut cri.runtime;
        Ok(match self {
            Rpc::ListPodSandbox => {
                let req = cri::ListPodSandboxRequest::default();
                r.list_pod_sandbox(req).await?.into_inner().items.len()
            }
            Rpc::ListContainers => {
                let req = cri::ListContainersRequest::default();
                r.list_containers(req).await?.into_inner().containers.len()
            }
            Rpc::ListContainerStats => {
                let req = cri::ListContainerStatsRequest::default();
                r.list_container_stats(req).await?.into_inner().stats.len()
            }
            Rpc::ListPodSandboxStats => {
                let req = cri::ListPodSandboxStatsRequest::default();
                let stats = r.list_pod_sandbox_stats(req).await?;
                stats.into_inner().stats.len()
            }
            Rpc::ImageFsInfo => {
                let req = cri::ImageFsInfoRequest::default();
                let info = cri.image.image_fs_info(req).await?.into_inner();
                info.image_filesystems.len() + info.container_filesystems.len()
            }
        })
    }
}

/// The latency of one call made many times.
#[derive(Debug, Clone, Serialize)]
pub struct RpcLatency {
    pub rpc: String,
    /// Items in the last successful answer (pods, containers, stats).
    pub items: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    /// The successful calls.
    pub latency: Option<Summary>,
    /// Every call, failed ones included (until their error came back): what
    /// the caller waited, also when no call succeeded.
    pub latency_all: Option<Summary>,
}

/// Calls `rpc` `n` times back to back, or until `budget` has passed (a
/// slow runtime gets fewer samples, never a longer run). An unimplemented
/// call stops at its first answer.
pub async fn measure(cri: &mut Cri, rpc: Rpc, n: usize, budget: Duration) -> RpcLatency {
    let mut times = Vec::with_capacity(n);
    let mut all = Vec::with_capacity(n);
    let mut out = RpcLatency {
        rpc: rpc.name().to_string(),
        items: 0,
        errors: 0,
        first_error: None,
        latency: None,
        latency_all: None,
    };
    let t0 = Instant::now();
    for _ in 0..n {
        if t0.elapsed() > budget {
            break;
        }
        let t = Instant::now();
        let answer = rpc.call(cri).await;
        let took = t.elapsed();
        all.push(took);
        match answer {
            Ok(items) => {
                times.push(took);
                out.items = items;
            }
            Err(status) => {
                out.errors += 1;
                out.first_error
                    .get_or_insert_with(|| format!("{:?}: {}", status.code(), status.message()));
                if status.code() == tonic::Code::Unimplemented {
                    break;
                }
            }
        }
    }
    out.latency = Summary::of(&times);
    out.latency_all = Summary::of(&all);
    out
}
