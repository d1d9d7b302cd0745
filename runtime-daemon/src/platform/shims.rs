//! The seam over the per-object shims: spawning one, connecting to one, and
//! the calls the managers, recovery and the sweep make over the connection,
//! as traits the context holds, so their logic runs against a fake without
//! root or a `cradle-shim` binary. [`ShimBinary`] and [`ShimClient`] are
//! the real ones. They answer in the platform's own [`ShimError`]; the
//! caller names the object (`core::error::Error::shim`).

use super::shim_client::ShimClient;
use super::shim_error::Result;
use crate::core::ids::ShimId;
use async_trait::async_trait;
use cradle_proto::shim::{ExitRecord, ShimState};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A connection to the shim of one container or pod.
#[async_trait]
pub trait Shim: Send + Sync + std::fmt::Debug {
    /// The object the shim serves (for the caller's errors and logs).
    fn id(&self) -> &ShimId;

    /// Whether the shim answers.
    async fn is_alive(&self) -> bool;

    /// The shim's view of its process.
    async fn state(&self) -> Result<ShimState>;

    /// Starts the created container.
    async fn start(&self) -> Result<()>;

    /// Sends `signal` to the init process (`all`: to every process).
    async fn kill(&self, signal: i32, all: bool) -> Result<()>;

    /// Waits for the process to exit, up to `timeout` (`None`: as long as it takes).
    async fn wait(&self, timeout: Option<Duration>) -> Result<ExitRecord>;

    /// Deletes the container from the runtime; the shim exits afterwards.
    async fn delete(&self, force: bool) -> Result<()>;

    /// Reopens the container's log file (after the kubelet rotated it).
    async fn reopen_log(&self) -> Result<()>;

    /// The exit record the shim left in its state dir, if any.
    fn exit_record(&self) -> Option<ExitRecord>;
}

/// Starts shims and connects to running ones.
#[async_trait]
pub trait Shims: Send + Sync {
    /// Starts the shim of object `id` with its state in `state_dir` (which
    /// the caller created) and arguments `args`, and returns once it serves.
    async fn spawn(
        &self,
        id: &ShimId,
        state_dir: &Path,
        args: Vec<OsString>,
    ) -> Result<Box<dyn Shim>>;

    /// The shim of object `id` whose state lives in `state_dir` (whether
    /// it still runs or not: ask it).
    fn connect(&self, id: &ShimId, state_dir: &Path) -> Box<dyn Shim>;
}

/// Shims run from the `cradle-shim` binary, reached over their sockets.
#[derive(Debug, Clone)]
pub struct ShimBinary {
    binary: PathBuf,
}

impl ShimBinary {
    /// Shims started from `binary`.
    pub fn new(binary: PathBuf) -> Self {
        ShimBinary { binary }
    }
}

#[async_trait]
impl Shims for ShimBinary {
    async fn spawn(
        &self,
        id: &ShimId,
        state_dir: &Path,
        args: Vec<OsString>,
    ) -> Result<Box<dyn Shim>> {
        let shim = ShimClient::spawn(id, &self.binary, state_dir, args).await?;
        Ok(Box::new(shim))
    }

    fn connect(&self, id: &ShimId, state_dir: &Path) -> Box<dyn Shim> {
        Box::new(ShimClient::new(id, state_dir))
    }
}

#[async_trait]
impl Shim for ShimClient {
    fn id(&self) -> &ShimId {
        ShimClient::id(self)
    }

    async fn is_alive(&self) -> bool {
        ShimClient::is_alive(self).await
    }

    async fn state(&self) -> Result<ShimState> {
        ShimClient::state(self).await
    }

    async fn start(&self) -> Result<()> {
        ShimClient::start(self).await
    }

    async fn kill(&self, signal: i32, all: bool) -> Result<()> {
        ShimClient::kill(self, signal, all).await
    }

    async fn wait(&self, timeout: Option<Duration>) -> Result<ExitRecord> {
        ShimClient::wait(self, timeout).await
    }

    async fn delete(&self, force: bool) -> Result<()> {
        ShimClient::delete(self, force).await
    }

    async fn reopen_log(&self) -> Result<()> {
        ShimClient::reopen_log(self).await
    }

    fn exit_record(&self) -> Option<ExitRecord> {
        ShimClient::exit_record(self)
    }
}
