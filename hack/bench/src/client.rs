//! CRI clients over a unix socket, for any CRI runtime (cradled, containerd,
//! CRI-O): the same connector pattern as the end-to-end tests use.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use cradle_proto::cri::image_service_client::ImageServiceClient;
use cradle_proto::cri::runtime_service_client::RuntimeServiceClient;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// RuntimeService and ImageService clients sharing one HTTP/2 channel.
#[derive(Clone)]
pub struct Cri {
    pub runtime: RuntimeServiceClient<Channel>,
    pub image: ImageServiceClient<Channel>,
}

/// `unix:///path.sock` or a bare path → the socket path.
pub fn socket_path(endpoint: &str) -> anyhow::Result<PathBuf> {
    let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    if !path.starts_with('/') {
        bail!("endpoint {endpoint:?}: want unix:///absolute/path.sock");
    }
    Ok(PathBuf::from(path))
}

impl Cri {
    /// Connects; every call times out after `timeout` so a hung runtime ends
    /// the benchmark with an error instead of hanging it.
    pub async fn connect(endpoint: &str, timeout: Duration) -> anyhow::Result<Self> {
        let socket = socket_path(endpoint)?;
        let shown = socket.display().to_string();
        // The URI is required by tonic but unused: the connector dials the socket.
        let channel =
            Endpoint::try_from("http://[::1]:50051")?
                .timeout(timeout)
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let socket = socket.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?))
                    }
                }))
                .await
                .with_context(|| format!("connecting to {shown}"))?;
        Ok(Cri {
            runtime: RuntimeServiceClient::new(channel.clone()),
            image: ImageServiceClient::new(channel),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_accepts_unix_uri_and_bare_path_only() {
        assert_eq!(
            socket_path("unix:///run/x.sock").unwrap(),
            PathBuf::from("/run/x.sock")
        );
        assert_eq!(
            socket_path("/run/x.sock").unwrap(),
            PathBuf::from("/run/x.sock")
        );
        assert!(socket_path("tcp://1.2.3.4:5").is_err());
        assert!(socket_path("unix://relative.sock").is_err());
    }
}
