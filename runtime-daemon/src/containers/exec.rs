//! ExecSync: run a command in a running container and collect its output.
//!
//! The daemon runs the container's OCI runtime directly
//! (`<runtime> --root R exec --pid-file P <id> <cmd…>`), which joins the
//! container and passes its stdio through. On timeout the process inside the
//! container (whose pid the runtime wrote to P) is SIGKILLed along with the
//! runtime, so nothing is left behind.

use super::{ContainerManager, ContainerState};
use crate::error::{Error, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Output kept per stream, as containerd caps it.
const MAX_OUTPUT: u64 = 16 * 1024 * 1024;

/// What an ExecSync produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
}

impl ContainerManager {
    /// Runs `cmd` in container `id`; `timeout` 0 waits as long as it takes.
    pub async fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput> {
        if cmd.is_empty() {
            return Err(Error::InvalidArgument("cmd must not be empty".into()));
        }
        let target = self.exec_target(id)?;
        let result = run(&target, cmd, timeout).await;
        let _ = std::fs::remove_file(&target.pid_file);
        result
    }

    /// Where and how to exec in container `id` (prefixes resolve): it must be
    /// running. Shared by ExecSync and the streaming server's Exec.
    pub(crate) fn exec_target(&self, id: &str) -> Result<ExecTarget> {
        let record = self.get(id)?;
        if record.state != ContainerState::Running {
            return Err(Error::FailedPrecondition(format!(
                "container {} is not running",
                record.id
            )));
        }
        let (handler, binary) = self.ctx.runtime_handler(&record.runtime_handler)?;
        let runtime_root = self.ctx.config.state_dir.join("runtime").join(handler);
        let pid_file = record
            .shim_dir
            .join(format!("exec-{}.pid", &crate::ids::generate()[..16]));
        Ok(ExecTarget {
            id: record.id,
            binary,
            runtime_root,
            pid_file,
            runtime_log: record.shim_dir.join(cradle_proto::shim::RUNTIME_LOG_FILE),
        })
    }
}

/// One `<runtime> exec` in a running container: the runtime binary and root,
/// and a fresh pid file through which the exec'd process can be killed.
#[derive(Debug, Clone)]
pub(crate) struct ExecTarget {
    pub id: String,
    pub binary: PathBuf,
    pub runtime_root: PathBuf,
    pub pid_file: PathBuf,
    /// The runtime's `--log`: its warnings stay out of the session's stderr.
    pub runtime_log: PathBuf,
}

impl ExecTarget {
    /// `<runtime> --root R --log L exec --pid-file P [extra…] <id> <cmd…>`,
    /// killed when dropped; stdio is the caller's to set.
    pub(crate) fn command(&self, extra: &[&OsStr], cmd: &[String]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .arg("--root")
            .arg(&self.runtime_root)
            .arg("--log")
            .arg(&self.runtime_log)
            .arg("exec")
            .arg("--pid-file")
            .arg(&self.pid_file)
            .args(extra)
            .arg(&self.id)
            .args(cmd)
            .kill_on_drop(true);
        command
    }

    /// SIGKILLs the exec'd process, if the runtime wrote its pid yet.
    pub(crate) fn kill_process(&self) {
        kill_exec_process(&self.pid_file);
    }
}

/// The exit code of a finished runtime process (128 + signal when killed).
pub(crate) fn exit_code(status: std::process::ExitStatus) -> i32 {
    match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 255,
    }
}

async fn run(target: &ExecTarget, cmd: &[String], timeout: Duration) -> Result<ExecOutput> {
    let binary = &target.binary;
    let id = &target.id;
    let mut child = target
        .command(&[], cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Internal(format!("running {} exec: {e}", binary.display())))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let collect = async {
        let (out, err, status) = tokio::join!(drain(stdout), drain(stderr), child.wait());
        (out, err, status)
    };
    let (stdout, stderr, status) = if timeout.is_zero() {
        collect.await
    } else {
        match tokio::time::timeout(timeout, collect).await {
            Ok(done) => done,
            Err(_) => {
                target.kill_process();
                let _ = child.kill().await;
                return Err(Error::DeadlineExceeded(format!(
                    "command {cmd:?} in container {id} timed out after {timeout:?}"
                )));
            }
        }
    };
    let status = status.map_err(|e| Error::Internal(format!("waiting for exec: {e}")))?;
    Ok(ExecOutput {
        stdout,
        stderr,
        exit_code: exit_code(status),
    })
}

async fn drain<R: tokio::io::AsyncRead + Unpin>(stream: Option<R>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(stream) = stream {
        let _ = stream.take(MAX_OUTPUT).read_to_end(&mut out).await;
    }
    out
}

/// SIGKILLs the exec'd process named by the runtime's pid file, if it was written.
fn kill_exec_process(pid_file: &Path) {
    let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|pid| *pid > 0)
    else {
        return;
    };
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}
