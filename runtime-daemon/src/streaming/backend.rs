//! The daemon's [`StreamingBackend`]: exec through the container's OCI
//! runtime ([`super::exec`]), attach through the shim's attach socket
//! ([`super::attach`], tty containers included), port-forward into the
//! pod's network namespace pin (or the host's for host-network pods).

use super::error::daemon_error;
use super::{attach, exec};
use crate::core::ids::SandboxId;
use crate::runtime::Runtime;
use cradle_streaming::{
    AttachRequest, ExecRequest, StreamError, StreamIo, StreamingBackend, connect_in_netns,
};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Streams with the daemon's containers and pods.
#[derive(Clone)]
pub struct RuntimeBackend {
    runtime: Arc<Runtime>,
}

impl RuntimeBackend {
    /// The backend over `runtime`'s containers and pods.
    pub fn new(runtime: Arc<Runtime>) -> Self {
        RuntimeBackend { runtime }
    }
}

impl StreamingBackend for RuntimeBackend {
    async fn exec(&self, req: ExecRequest, io: StreamIo) -> Result<i32, StreamError> {
        exec::exec(&self.runtime, req, io).await
    }

    async fn attach(&self, req: AttachRequest, io: StreamIo) -> Result<(), StreamError> {
        attach::attach(&self.runtime, req, io).await
    }

    async fn port_forward(
        &self,
        sandbox_id: &str,
        port: u16,
    ) -> Result<tokio::net::TcpStream, StreamError> {
        let record = self
            .runtime
            .pods
            .get(&SandboxId::new(sandbox_id))
            .map_err(daemon_error)?;
        match &record.pins.net {
            Some(netns) => connect_in_netns(netns, port).await,
            // A host-network pod listens in the daemon's own namespace.
            None => tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .await
                .map_err(|source| StreamError::PortForward {
                    netns: "host".into(),
                    port,
                    source,
                }),
        }
    }
}
