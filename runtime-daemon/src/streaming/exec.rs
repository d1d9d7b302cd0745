//! Exec for the streaming server: `<runtime> exec` in a running container
//! (the same command ExecSync runs, `ExecTarget`), with the client's streams
//! pumped to the process's pipes, or, with a tty, to the pty master the
//! runtime sends over a `--console-socket`.
//!
//! The client may leave at any moment: the server then drops the future, and
//! `ExecGuard` stops the exec as a timed-out ExecSync is stopped
//! (`ExecTarget::stop`): the exec'd process is SIGKILLed (pid from
//! `--pid-file`) so the runtime, which is its parent, reaps it and exits;
//! then the runtime itself is reaped (killed if it lingers). Nothing is left
//! running or unreaped.

use super::error::daemon_error;
use crate::containers::exec::{ExecTarget, exit_code};
use crate::core::ids::ContainerId;
use crate::runtime::Runtime;
use cradle_streaming::pty;
use cradle_streaming::{BoxedWriter, ExecRequest, StreamError, StreamIo};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::process::Child;

/// How long output may still flow after the runtime exited (what is left in
/// the pipe; a background process holding it open must not hang the session).
const OUTPUT_GRACE: Duration = Duration::from_secs(5);

/// Runs `req.cmd` in its container and returns the exit code.
pub async fn exec(runtime: &Runtime, req: ExecRequest, io: StreamIo) -> Result<i32, StreamError> {
    if req.cmd.is_empty() {
        return Err(StreamError::InvalidRequest("cmd must not be empty".into()));
    }
    let target = runtime
        .containers
        .exec_target(&ContainerId::new(&req.container_id))
        .map_err(daemon_error)?;
    if req.tty {
        let dir = runtime.ctx.config.state_dir.join("exec-consoles");
        std::fs::create_dir_all(&dir)?;
        let socket = dir.join(format!("{}.sock", &crate::core::ids::generate()[..16]));
        run_tty(target, socket, &req.cmd, io).await
    } else {
        run_pipes(target, &req.cmd, io).await
    }
}

/// Owns one running `<runtime> exec`: kills and reaps it unless it was waited
/// for, and removes its pid file (and console socket).
struct ExecGuard {
    target: ExecTarget,
    child: Option<Child>,
    reaped: bool,
    files: Vec<PathBuf>,
}

impl ExecGuard {
    async fn wait(&mut self) -> Result<i32, StreamError> {
        let Some(child) = self.child.as_mut() else {
            return Err(StreamError::Backend("exec already waited for".into()));
        };
        let status = child.wait().await?;
        self.reaped = true;
        Ok(exit_code(status))
    }
}

impl Drop for ExecGuard {
    fn drop(&mut self) {
        let files: Vec<PathBuf> = std::iter::once(self.target.pid_file.clone())
            .chain(self.files.drain(..))
            .collect();
        let child = self.child.take();
        let (Some(mut child), false) = (child, self.reaped) else {
            remove_all(&files);
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            // No runtime to reap on: kill_on_drop kills the runtime.
            self.target.kill_process(child.id());
            remove_all(&files);
            return;
        };
        let target = self.target.clone();
        handle.spawn(async move {
            target.stop(&mut child).await;
            remove_all(&files);
        });
    }
}

fn remove_all(files: &[PathBuf]) {
    for file in files {
        let _ = std::fs::remove_file(file);
    }
}

fn piped_if(wanted: bool) -> Stdio {
    if wanted {
        Stdio::piped()
    } else {
        Stdio::null()
    }
}

async fn run_pipes(target: ExecTarget, cmd: &[String], io: StreamIo) -> Result<i32, StreamError> {
    let StreamIo {
        stdin,
        stdout,
        stderr,
        resize: _,
    } = io;
    let mut child = target
        .command(&[], cmd)
        .stdin(piped_if(stdin.is_some()))
        .stdout(piped_if(stdout.is_some()))
        .stderr(piped_if(stderr.is_some()))
        .spawn()
        .map_err(|e| spawn_error(&target, e))?;
    let child_stdin = child.stdin.take();
    let child_stdout = child.stdout.take();
    let child_stderr = child.stderr.take();
    let mut guard = ExecGuard {
        target,
        child: Some(child),
        reaped: false,
        files: Vec::new(),
    };
    let feed = async move {
        if let (Some(mut from), Some(mut to)) = (stdin, child_stdin) {
            let _ = tokio::io::copy(&mut from, &mut to).await;
            let _ = to.shutdown().await;
        }
    };
    let outputs = async move {
        tokio::join!(pump(child_stdout, stdout), pump(child_stderr, stderr));
    };
    finish(&mut guard, feed, outputs).await
}

async fn run_tty(
    target: ExecTarget,
    socket: PathBuf,
    cmd: &[String],
    io: StreamIo,
) -> Result<i32, StreamError> {
    // However long the state dir: bound through its directory, and the
    // runtime (our child) is given the same place through our /proc entry.
    let short = cradle_proto::sockpath::ShortPath::new(&socket)?;
    let listener = tokio::net::UnixListener::bind(short.as_path())?;
    let for_runtime = short.for_others();
    let extra = [
        std::ffi::OsStr::new("--tty"),
        std::ffi::OsStr::new("--console-socket"),
        for_runtime.as_os_str(),
    ];
    let spawned = target
        .command(&extra, cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut guard = ExecGuard {
        target,
        child: None,
        reaped: false,
        files: vec![socket],
    };
    let mut child = spawned.map_err(|e| spawn_error(&guard.target, e))?;
    let runtime_stderr = child.stderr.take();
    guard.child = Some(child);
    let master = tokio::select! {
        accepted = listener.accept() => {
            let (conn, _) = accepted?;
            pty::receive_master(&conn).await?
        }
        code = guard.wait() => {
            let code = code?;
            let mut message = Vec::new();
            if let Some(mut err) = runtime_stderr {
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut err, &mut message).await;
            }
            return Err(StreamError::Backend(format!(
                "exec with a tty failed (exit {code}): {}",
                String::from_utf8_lossy(&message).trim()
            )));
        }
    };
    drop(listener);
    let reader = pty::PtyMaster::new(master)?;
    let mut writer = reader.try_clone()?;
    let resizer = reader.try_clone()?;
    let StreamIo {
        stdin,
        stdout,
        stderr: _,
        resize,
    } = io;
    let feed = async move {
        let resizes = async {
            if let Some(mut sizes) = resize {
                while let Some(size) = sizes.recv().await {
                    if let Err(e) = resizer.resize(size) {
                        tracing::debug!("exec tty resize: {e}");
                    }
                }
            }
        };
        let input = async {
            if let Some(mut from) = stdin {
                let _ = tokio::io::copy(&mut from, &mut writer).await;
            }
        };
        tokio::join!(resizes, input);
    };
    let outputs = pump(Some(reader), stdout);
    finish(&mut guard, feed, outputs).await
}

/// Waits for the runtime to exit while `feed` (client → process) runs, then
/// lets `outputs` (process → client) finish what is left, for at most
/// [`OUTPUT_GRACE`].
async fn finish(
    guard: &mut ExecGuard,
    feed: impl Future<Output = ()>,
    outputs: impl Future<Output = ()>,
) -> Result<i32, StreamError> {
    let feed = async {
        feed.await;
        std::future::pending::<()>().await
    };
    tokio::pin!(outputs);
    tokio::pin!(feed);
    let mut outputs_done = false;
    let code = tokio::select! {
        code = guard.wait() => code,
        () = &mut outputs => {
            outputs_done = true;
            tokio::select! {
                code = guard.wait() => code,
                () = &mut feed => unreachable_pending(),
            }
        }
        () = &mut feed => unreachable_pending(),
    }?;
    if !outputs_done && tokio::time::timeout(OUTPUT_GRACE, outputs).await.is_err() {
        tracing::debug!("exec output still open {OUTPUT_GRACE:?} after exit: closed");
    }
    Ok(code)
}

/// `feed` ends in `pending`, so its select arm never fires.
fn unreachable_pending() -> Result<i32, StreamError> {
    Err(StreamError::Backend("input pump ended".into()))
}

/// Copies `from` to the client's `to` until EOF, then closes `to`. A client
/// that stops reading does not block the process: the rest is discarded.
async fn pump<R: AsyncRead + Unpin>(from: Option<R>, to: Option<BoxedWriter>) {
    let Some(mut from) = from else { return };
    match to {
        Some(mut to) => {
            if tokio::io::copy(&mut from, &mut to).await.is_err() {
                let _ = tokio::io::copy(&mut from, &mut tokio::io::sink()).await;
            }
            let _ = to.shutdown().await;
        }
        None => {
            let _ = tokio::io::copy(&mut from, &mut tokio::io::sink()).await;
        }
    }
}

fn spawn_error(target: &ExecTarget, e: std::io::Error) -> StreamError {
    StreamError::Backend(format!(
        "running {} exec: {e}",
        target.handler.binary.display()
    ))
}
