//! ExecSync: run a command in a running container and collect its output.
//!
//! The daemon runs the container's OCI runtime directly
//! (`<runtime> --root R exec --pid-file P <id> <cmd…>`), which joins the
//! container and passes its stdio through. The runtime is the exec'd
//! process's parent and reaper. On timeout the process inside the container
//! (whose pid the runtime wrote to P) is SIGKILLed and the runtime is left to
//! reap it and exit (`ExecTarget::stop`): killing the runtime first would
//! orphan the process to a reaper outside the container (the host's init,
//! which may never reap it), and it would stay a zombie that `pgrep` in the
//! container still finds.

use super::manager::ContainerManager;
use super::record::ContainerState;
use crate::core::error::{Error, Result};
use crate::core::ids::ContainerId;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::Child;

/// Output kept per stream, as containerd caps it.
const MAX_OUTPUT: u64 = 16 * 1024 * 1024;
/// How long a runtime whose process was killed gets to reap it and exit
/// before it is killed itself.
const REAP_GRACE: Duration = Duration::from_secs(5);
/// How often [`ExecTarget::stop`] retries the kill while the pid file is
/// not written yet.
const KILL_RETRY: Duration = Duration::from_millis(50);

/// What an ExecSync produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// What the command wrote to stdout (at most 16 MiB, as containerd keeps).
    pub stdout: Vec<u8>,
    /// What the command wrote to stderr (at most 16 MiB).
    pub stderr: Vec<u8>,
    /// The command's exit code (128 + signal when killed).
    pub exit_code: i32,
}

impl ContainerManager {
    /// Runs `cmd` in container `id`; `timeout` 0 waits as long as it takes.
    pub async fn exec_sync(
        &self,
        id: &ContainerId,
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
    pub(crate) fn exec_target(&self, id: &ContainerId) -> Result<ExecTarget> {
        let record = self.get(id)?;
        if record.state != ContainerState::Running {
            return Err(Error::FailedPrecondition(format!(
                "container {} is not running",
                record.id
            )));
        }
        let handler = self.ctx.runtime_handler(&record.runtime_handler)?;
        let pid_file = record
            .shim_dir
            .join(format!("exec-{}.pid", &crate::core::ids::generate()[..16]));
        Ok(ExecTarget {
            id: record.id,
            handler,
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
    /// The runtime: its binary, `--root` and global flags.
    pub handler: std::sync::Arc<crate::core::handlers::Handler>,
    pub pid_file: PathBuf,
    /// The runtime's `--log`: its warnings stay out of the session's stderr.
    pub runtime_log: PathBuf,
}

impl ExecTarget {
    /// `<runtime> --root R [flags] --log L exec --pid-file P [extra…] <id> <cmd…>`,
    /// killed when dropped; stdio is the caller's to set.
    pub(crate) fn command(&self, extra: &[&OsStr], cmd: &[String]) -> tokio::process::Command {
        let mut command = self.handler.command();
        command
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

    /// SIGKILLs the exec'd process of `runtime` (the `<runtime> exec` with
    /// that pid), if the runtime wrote its pid yet; true once it did.
    pub(crate) fn kill_process(&self, runtime: Option<u32>) -> bool {
        kill_exec_process(&self.pid_file, runtime)
    }

    /// Ends a `<runtime> exec` that is still running without orphaning its
    /// process: SIGKILLs the process (until the runtime has written its pid,
    /// it is tried again) and waits for the runtime, its parent, to reap it
    /// and exit. Only a runtime still there after [`REAP_GRACE`] is killed
    /// itself. `child` is reaped either way.
    pub(crate) async fn stop(&self, child: &mut Child) {
        let runtime = child.id();
        let deadline = tokio::time::Instant::now() + REAP_GRACE;
        let mut killed = false;
        loop {
            if !killed {
                killed = self.kill_process(runtime);
            }
            match tokio::time::timeout(KILL_RETRY, child.wait()).await {
                Ok(_) => return,
                Err(_) if tokio::time::Instant::now() >= deadline => {
                    tracing::warn!(
                        container = %self.id,
                        "exec runtime still running {REAP_GRACE:?} after its process was killed: killing it"
                    );
                    let _ = child.kill().await;
                    return;
                }
                Err(_) => {}
            }
        }
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
    let binary = &target.handler.binary;
    let id = &target.id;
    let mut child = target
        .command(&[], cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Process {
            what: format!("running {} exec", binary.display()),
            source,
        })?;
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
                target.stop(&mut child).await;
                return Err(Error::DeadlineExceeded(format!(
                    "command {cmd:?} in container {id} timed out after {timeout:?}"
                )));
            }
        }
    };
    let status = status.map_err(|source| Error::Process {
        what: "waiting for exec".to_string(),
        source,
    })?;
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

/// SIGKILLs the exec'd process named by the runtime's pid file, if it was
/// written; true if it was. The signal goes through a pidfd, and only while
/// the process is still a child of `runtime`: once the runtime reaped it
/// the pid may be anyone's.
fn kill_exec_process(pid_file: &Path, runtime: Option<u32>) -> bool {
    let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    // The pidfd pins the process: if it is a child of the runtime now, the
    // signal cannot reach another process that later reuses the pid.
    let Ok(pidfd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) else {
        return true; // gone already
    };
    let parent = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_pid()))
        .ok()
        .and_then(|stat| parent_of(&stat));
    if runtime.is_some() && parent == runtime {
        let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
    }
    true
}

/// The parent pid in a `/proc/<pid>/stat` line (`pid (comm) state ppid …`,
/// comm may hold spaces and parentheses).
fn parent_of(stat: &str) -> Option<u32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_is_read_after_the_command_name() {
        assert_eq!(parent_of("42 (sle ep) (x)) S 7 42 42 0"), Some(7));
        assert_eq!(parent_of("42 (sleep) Z"), None);
    }
}
