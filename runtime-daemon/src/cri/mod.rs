//! The CRI v1 gRPC services: validation and status mapping only.
//!
//! One module per RPC family, as containerd's `internal/cri/server`:
//! [`runtime_info`] (Version, Status, RuntimeConfig, UpdateRuntimeConfig),
//! [`sandbox`], [`container`] (with ExecSync, ReopenContainerLog and
//! UpdateContainerResources),
//! [`stats`] (ContainerStats, ListContainerStats), [`sandbox_stats`]
//! (PodSandboxStats, ListPodSandboxStats), [`metrics`]
//! (ListMetricDescriptors, ListPodSandboxMetrics), [`events`]
//! (GetContainerEvents), [`streaming`] (Exec, Attach, PortForward: URLs on
//! the streaming server), [`image`] (with ImageFsInfo) and [`list_streaming`]
//! (the `Stream*` forms of the List rpcs); `validate` holds
//! the request checks containerd makes before any work. The trait impls in
//! [`runtime_service`] and [`image_service`] only dispatch; every RPC not
//! built yet (checkpoint) answers `Unimplemented` by name.

pub mod container;
pub mod events;
pub mod filter;
pub mod image;
pub mod image_service;
pub mod list_streaming;
mod metric_builder;
pub mod metrics;
mod metrics_detail;
pub mod runtime_info;
pub mod runtime_service;
pub mod sandbox;
pub mod sandbox_stats;
pub mod stats;
pub mod streaming;
mod validate;

use crate::runtime::Runtime;
use std::sync::Arc;

/// The CRI server: both services over one [`Runtime`].
#[derive(Clone)]
pub struct CriService {
    /// The managers every RPC is served by.
    pub runtime: Arc<Runtime>,
    /// Mints the URLs of Exec/PortForward ([`CriService::with_streaming`]).
    pub streaming: Option<Arc<cradle_streaming::StreamingServer>>,
    /// The stats pass ListContainerStats and ListPodSandboxStats share.
    pub stats: Arc<crate::stats::StatsCache>,
}

impl CriService {
    /// A service without a streaming server (Exec, Attach and PortForward
    /// answer UNAVAILABLE until [`CriService::with_streaming`] adds one).
    pub fn new(runtime: Arc<Runtime>) -> Self {
        CriService {
            runtime,
            streaming: None,
            stats: Arc::new(crate::stats::StatsCache::new(crate::stats::cache::MAX_AGE)),
        }
    }
}

/// The standard answer of an RPC that is not built yet.
pub(crate) fn unimplemented(rpc: &str) -> tonic::Status {
    tonic::Status::unimplemented(format!("{rpc} is not implemented yet"))
}

/// A required string field: `InvalidArgument` naming it when empty.
pub(crate) fn required<'a>(value: &'a str, field: &str) -> Result<&'a str, tonic::Status> {
    if value.is_empty() {
        Err(tonic::Status::invalid_argument(format!(
            "{field} is required"
        )))
    } else {
        Ok(value)
    }
}

/// Runs a lifecycle operation to completion on its own task. When the client
/// gives up (deadline, disconnect), tonic drops the handler's future; the
/// operation must still finish or unwind, or it would leave mounts, shims and
/// name reservations behind. The task runs in the caller's span (the RPC's,
/// the pod's or container's), so its log lines carry their fields.
pub(crate) async fn detached<T, F>(operation: F) -> Result<T, tonic::Status>
where
    T: Send + 'static,
    F: std::future::Future<Output = crate::core::error::Result<T>> + Send + 'static,
{
    use tracing::Instrument as _;
    tokio::spawn(operation.in_current_span())
        .await
        .map_err(|e| tonic::Status::internal(format!("operation task failed: {e}")))?
        .map_err(tonic::Status::from)
}
