//! The CRI channel: a gRPC connection over cradled's unix socket, and the two
//! service clients on it.

use anyhow::Context as _;
use cradle_proto::cri::image_service_client::ImageServiceClient;
use cradle_proto::cri::runtime_service_client::RuntimeServiceClient;
use std::path::PathBuf;
use tonic::transport::{Channel, Endpoint};

/// The CRI runtime service over the socket.
pub type Runtime = RuntimeServiceClient<Channel>;
/// The CRI image service over the socket.
pub type Images = ImageServiceClient<Channel>;

/// Dials the CRI socket.
pub async fn connect(socket: PathBuf) -> anyhow::Result<Channel> {
    // The URI is a placeholder: the connector ignores it and dials the socket.
    Endpoint::try_from("http://[::1]:50051")?
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    cradle_daemon::platform::sockets::connect(&socket).await?,
                ))
            }
        }))
        .await
        .context("connecting to the CRI socket")
}

/// Both clients on one channel.
pub async fn clients(socket: PathBuf) -> anyhow::Result<(Runtime, Images)> {
    let channel = connect(socket).await?;
    Ok((
        RuntimeServiceClient::new(channel.clone()),
        ImageServiceClient::new(channel),
    ))
}
