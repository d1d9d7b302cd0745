//! Exec, Attach and PortForward: check what the request names, then answer
//! with a one-time URL on the streaming server (which runs the session when
//! the client connects, through [`crate::streaming::backend::RuntimeBackend`]).
//! The CRI requests are mapped to the streaming crate's own request types
//! here, and its refusals to gRPC statuses ([`stream_status`]).

use super::CriService;
use crate::containers::ContainerState;
use crate::core::ids::{ContainerId, SandboxId};
use cradle_proto::cri;
use cradle_streaming::{StreamError, StreamingServer};
use std::sync::Arc;
use tonic::Status;

impl CriService {
    /// The service with its streaming server (without one, the three RPCs
    /// answer Unavailable).
    pub fn with_streaming(mut self, server: Arc<StreamingServer>) -> Self {
        self.streaming = Some(server);
        self
    }

    fn streaming_server(&self) -> Result<&StreamingServer, Status> {
        self.streaming
            .as_deref()
            .ok_or_else(|| Status::unavailable("the streaming server is not running"))
    }

    /// Exec: the container must exist (prefixes resolve) and be running.
    pub async fn exec_impl(&self, mut req: cri::ExecRequest) -> Result<cri::ExecResponse, Status> {
        self.runtime
            .container_call_span(&ContainerId::new(&req.container_id));
        req.container_id = self.running_container(&req.container_id)?.to_string();
        let url = self
            .streaming_server()?
            .get_exec_url(&exec_request(req))
            .map_err(stream_status)?;
        Ok(cri::ExecResponse { url })
    }

    /// Attach: to a running container's output, its stdin when it was
    /// created with stdin, and its terminal (with resizes) when it was
    /// created with tty. A tty attach to a container without a terminal is
    /// refused; a non-tty attach to a tty container gets the terminal's
    /// output as plain stdout (kubectl attach without -t).
    pub async fn attach_impl(
        &self,
        mut req: cri::AttachRequest,
    ) -> Result<cri::AttachResponse, Status> {
        self.runtime
            .container_call_span(&ContainerId::new(&req.container_id));
        let id = self.running_container(&req.container_id)?;
        req.container_id = id.to_string();
        let record = self.runtime.containers.get(&id)?;
        if req.tty && !record.config.tty {
            return Err(Status::failed_precondition(format!(
                "container {} was not created with a tty (ContainerConfig.tty is false): \
                 attach with tty is impossible",
                record.id
            )));
        }
        if req.stdin && !record.config.stdin {
            return Err(Status::failed_precondition(format!(
                "container {} was not created with stdin (ContainerConfig.stdin is false): \
                 attach with stdin is impossible",
                record.id
            )));
        }
        let url = self
            .streaming_server()?
            .get_attach_url(&attach_request(req))
            .map_err(stream_status)?;
        Ok(cri::AttachResponse { url })
    }

    /// PortForward: the sandbox must exist (prefixes resolve).
    pub async fn port_forward_impl(
        &self,
        mut req: cri::PortForwardRequest,
    ) -> Result<cri::PortForwardResponse, Status> {
        super::required(&req.pod_sandbox_id, "pod_sandbox_id")?;
        self.runtime
            .pod_call_span(&SandboxId::new(&req.pod_sandbox_id));
        req.pod_sandbox_id = self
            .runtime
            .pods
            .resolve(&SandboxId::new(&req.pod_sandbox_id))?
            .to_string();
        let url = self
            .streaming_server()?
            .get_portforward_url(&port_forward_request(req))
            .map_err(stream_status)?;
        Ok(cri::PortForwardResponse { url })
    }

    /// The full id of a running container: NotFound / FailedPrecondition otherwise.
    fn running_container(&self, id: &str) -> Result<ContainerId, Status> {
        let id = ContainerId::new(super::required(id, "container_id")?);
        let record = self.runtime.containers.get(&id)?;
        if record.state != ContainerState::Running {
            return Err(Status::failed_precondition(format!(
                "container {} is not running",
                record.id
            )));
        }
        Ok(record.typed_id())
    }
}

/// How the CRI `Exec`/`Attach`/`PortForward` handlers report a refused URL.
pub fn stream_status(e: StreamError) -> Status {
    match e {
        StreamError::InvalidRequest(_) => Status::invalid_argument(e.to_string()),
        StreamError::NotFound(_) => Status::not_found(e.to_string()),
        _ => Status::internal(e.to_string()),
    }
}

/// The streaming server's copy of a CRI ExecRequest.
fn exec_request(req: cri::ExecRequest) -> cradle_streaming::ExecRequest {
    cradle_streaming::ExecRequest {
        container_id: req.container_id,
        cmd: req.cmd,
        tty: req.tty,
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr,
    }
}

/// The streaming server's copy of a CRI AttachRequest.
fn attach_request(req: cri::AttachRequest) -> cradle_streaming::AttachRequest {
    cradle_streaming::AttachRequest {
        container_id: req.container_id,
        tty: req.tty,
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr,
    }
}

/// The streaming server's copy of a CRI PortForwardRequest.
fn port_forward_request(req: cri::PortForwardRequest) -> cradle_streaming::PortForwardRequest {
    cradle_streaming::PortForwardRequest {
        pod_sandbox_id: req.pod_sandbox_id,
        port: req.port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_errors_map_to_grpc_codes() {
        let s = stream_status(StreamError::InvalidRequest("tty and stderr".into()));
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        let s = stream_status(StreamError::NotFound("container c1".into()));
        assert_eq!(s.code(), tonic::Code::NotFound);
    }
}
