//! The CRI clients over the daemon's unix socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cradle_proto::cri::image_service_client::ImageServiceClient;
use cradle_proto::cri::runtime_service_client::RuntimeServiceClient;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// RuntimeService and ImageService clients sharing one channel.
#[derive(Clone)]
pub struct Cri {
    /// Pods, containers, exec and status: the kubelet's RuntimeService.
    pub runtime: RuntimeServiceClient<Channel>,
    /// Pulls, lists and removals: the kubelet's ImageService.
    pub image: ImageServiceClient<Channel>,
    /// The channel itself, for RPCs sent by name (replay's empty-body calls).
    pub channel: Channel,
}

impl Cri {
    /// Connects to `unix://<socket>`; every call times out after 60 s so a
    /// hung daemon fails the test instead of hanging it.
    pub async fn connect(socket: &Path) -> anyhow::Result<Self> {
        let socket: PathBuf = socket.to_path_buf();
        // The URI is required by tonic but unused: the connector dials the socket.
        let channel =
            Endpoint::try_from("http://[::1]:50051")?
                .timeout(Duration::from_secs(60))
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let socket = socket.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?))
                    }
                }))
                .await?;
        Ok(Cri {
            runtime: RuntimeServiceClient::new(channel.clone()),
            image: ImageServiceClient::new(channel.clone()),
            channel,
        })
    }
}
