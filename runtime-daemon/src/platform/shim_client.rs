//! The daemon's side of the shim protocol (`cradle_proto::shim`).
//!
//! Starting a shim runs the `cradle-shim` binary, which returns once the shim
//! daemon is ready (or failed, with the reason on stderr). Talking to a running
//! shim is one Unix stream connection per call: one JSON request line, one JSON
//! response line, bounded by a timeout except for [`ShimClient::wait`], which
//! parks until the watched process exits.

use crate::core::ids::ShimId;
use crate::platform::shim_error::{Result, ShimError};
use cradle_proto::shim::{self, ExitRecord, Request, Response, ShimState};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Read buffer of one call. Responses are one short JSON line, and every
/// running container has a Wait call open for as long as it runs: tokio's
/// 8 KiB default made that 8 KiB of daemon memory per container (issue 17);
/// a longer line still reads whole, in more reads.
const RESPONSE_BUFFER: usize = 1024;

/// Bound on ordinary requests (State, Kill, ReopenLog).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on requests that run the OCI runtime (Start, Delete).
pub const RUNTIME_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on starting a shim (it runs the runtime's `create`).
pub const SPAWN_TIMEOUT: Duration = Duration::from_secs(60);

/// File in the shim's state dir that captures the spawning process's stderr.
const SPAWN_ERR_FILE: &str = "spawn.err";

/// A handle on one shim, by its state directory.
#[derive(Debug, Clone)]
pub struct ShimClient {
    id: ShimId,
    state_dir: PathBuf,
}

impl ShimClient {
    /// The shim of object `id` whose state lives in `state_dir`.
    pub fn new(id: &ShimId, state_dir: &Path) -> Self {
        ShimClient {
            id: id.clone(),
            state_dir: state_dir.to_path_buf(),
        }
    }

    /// The object the shim serves.
    pub fn id(&self) -> &ShimId {
        &self.id
    }

    /// The shim's socket path.
    pub fn socket(&self) -> PathBuf {
        self.state_dir.join(shim::SOCKET_FILE)
    }

    /// Runs `shim_bin args…` and waits until it reports readiness. On failure the
    /// shim's stderr is the error. The caller creates `state_dir` beforehand.
    pub async fn spawn(
        id: &ShimId,
        shim_bin: &Path,
        state_dir: &Path,
        args: Vec<OsString>,
    ) -> Result<Self> {
        // stderr goes to a file, not a pipe: the daemonized shim must not keep us
        // waiting for an EOF, we wait for the spawning process's exit only.
        let err_path = state_dir.join(SPAWN_ERR_FILE);
        let err_file = std::fs::File::create(&err_path).map_err(|source| ShimError::ErrFile {
            path: err_path.clone(),
            source,
        })?;
        tracing::debug!(%id, shim = %shim_bin.display(), ?args, "starting shim");
        let mut child = tokio::process::Command::new(shim_bin)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(err_file)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ShimError::Spawn {
                binary: shim_bin.to_path_buf(),
                source,
            })?;
        let status = match tokio::time::timeout(SPAWN_TIMEOUT, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => return Err(ShimError::WaitStart(e)),
            Err(_) => {
                let _ = child.kill().await;
                return Err(ShimError::StartTimeout(SPAWN_TIMEOUT));
            }
        };
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        let _ = std::fs::remove_file(&err_path);
        if status.code() == Some(shim::EXIT_CREATE_REFUSED) {
            let said = stderr.trim();
            let said = said.strip_prefix("cradle-shim: ").unwrap_or(said);
            return Err(ShimError::CreateRefused(said.to_string()));
        }
        if !status.success() {
            let reason = stderr.trim();
            let reason = if reason.is_empty() {
                "no error output"
            } else {
                reason
            };
            return Err(ShimError::StartFailed {
                status,
                reason: reason.to_string(),
            });
        }
        // The contract says exit 0 means "listening"; check it, so a shim that
        // lied (or a stand-in binary) fails here with a clear message rather
        // than leaving a pod or container that no shim serves.
        let shim = ShimClient::new(id, state_dir);
        let unanswered = match shim.call(&Request::State, Some(REQUEST_TIMEOUT)).await {
            Ok(Response::State(_)) => None,
            Ok(other) => Some(ShimError::Unexpected(Box::new(other))),
            Err(e) => Some(e),
        };
        if let Some(e) = unanswered {
            return Err(ShimError::Unanswered(Box::new(e)));
        }
        Ok(shim)
    }

    /// Sends one request and reads one response, within `timeout` (`None`: unbounded).
    pub async fn call(&self, request: &Request, timeout: Option<Duration>) -> Result<Response> {
        let exchange = async {
            let socket = self.socket();
            let stream = crate::platform::sockets::connect(&socket)
                .await
                .map_err(|source| ShimError::Connect {
                    socket: socket.clone(),
                    source,
                })?;
            let (read, mut write) = stream.into_split();
            write
                .write_all(&shim::encode(request))
                .await
                .map_err(|source| ShimError::Send {
                    request: request.clone(),
                    source,
                })?;
            let mut line = Vec::new();
            let n = BufReader::with_capacity(RESPONSE_BUFFER, read)
                .read_until(b'\n', &mut line)
                .await
                .map_err(|source| ShimError::Read {
                    request: request.clone(),
                    source,
                })?;
            if n == 0 {
                return Err(ShimError::Closed(request.clone()));
            }
            shim::decode::<Response>(&line).map_err(|source| ShimError::BadAnswer {
                request: request.clone(),
                source,
            })
        };
        let response =
            match timeout {
                Some(limit) => tokio::time::timeout(limit, exchange).await.map_err(|_| {
                    ShimError::TimedOut {
                        request: request.clone(),
                        limit,
                    }
                })??,
                None => exchange.await?,
            };
        match response {
            Response::Error { message } => Err(ShimError::Refused(message)),
            other => Ok(other),
        }
    }

    /// Whether the shim's socket accepts connections.
    pub async fn is_alive(&self) -> bool {
        self.state().await.is_ok()
    }

    /// The shim's view of its process.
    pub async fn state(&self) -> Result<ShimState> {
        match self.call(&Request::State, Some(REQUEST_TIMEOUT)).await? {
            Response::State(state) => Ok(state),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Starts the created container.
    pub async fn start(&self) -> Result<()> {
        self.expect_ok(&Request::Start, RUNTIME_TIMEOUT).await
    }

    /// Sends `signal` to the init process.
    pub async fn kill(&self, signal: i32, all: bool) -> Result<()> {
        self.expect_ok(&Request::Kill { signal, all }, REQUEST_TIMEOUT)
            .await
    }

    /// Waits for the process to exit, up to `timeout` (`None`: as long as it takes).
    pub async fn wait(&self, timeout: Option<Duration>) -> Result<ExitRecord> {
        match self.call(&Request::Wait, timeout).await? {
            Response::Exited(record) => Ok(record),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Deletes the container from the runtime; the shim exits afterwards.
    pub async fn delete(&self, force: bool) -> Result<()> {
        self.expect_ok(&Request::Delete { force }, RUNTIME_TIMEOUT)
            .await
    }

    /// The exit record the shim left in its state dir, if any.
    pub fn exit_record(&self) -> Option<ExitRecord> {
        let bytes = std::fs::read(self.state_dir.join(shim::EXIT_FILE)).ok()?;
        shim::decode(&bytes).ok()
    }

    async fn expect_ok(&self, request: &Request, timeout: Duration) -> Result<()> {
        match self.call(request, Some(timeout)).await? {
            Response::Ok => Ok(()),
            other => Err(self.unexpected(&other)),
        }
    }

    fn unexpected(&self, response: &Response) -> ShimError {
        ShimError::Unexpected(Box::new(response.clone()))
    }
}

impl ShimClient {
    /// Reopens the container's log file (after the kubelet rotated it).
    pub async fn reopen_log(&self) -> Result<()> {
        self.expect_ok(&Request::ReopenLog, REQUEST_TIMEOUT).await
    }
}
