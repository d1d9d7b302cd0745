//! ExecSync: run a command in a running container and collect its output.
//!
//! The daemon runs the container's OCI runtime directly
//! (`<runtime> --root R exec --pid-file P <id> <cmd…>`), which joins the
//! container and passes its stdio through. On timeout the process inside the
//! container (whose pid the runtime wrote to P) is SIGKILLed along with the
//! runtime, so nothing is left behind.

use super::{ContainerManager, ContainerState};
use crate::error::{Error, Result};
use std::path::Path;
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
        let result = run(&binary, &runtime_root, &record.id, &pid_file, cmd, timeout).await;
        let _ = std::fs::remove_file(&pid_file);
        result
    }
}

async fn run(
    binary: &Path,
    runtime_root: &Path,
    id: &str,
    pid_file: &Path,
    cmd: &[String],
    timeout: Duration,
) -> Result<ExecOutput> {
    let mut child = tokio::process::Command::new(binary)
        .arg("--root")
        .arg(runtime_root)
        .arg("exec")
        .arg("--pid-file")
        .arg(pid_file)
        .arg(id)
        .args(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
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
                kill_exec_process(pid_file);
                let _ = child.kill().await;
                return Err(Error::DeadlineExceeded(format!(
                    "command {cmd:?} in container {id} timed out after {timeout:?}"
                )));
            }
        }
    };
    let status = status.map_err(|e| Error::Internal(format!("waiting for exec: {e}")))?;
    let exit_code = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 255,
    };
    Ok(ExecOutput {
        stdout,
        stderr,
        exit_code,
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
