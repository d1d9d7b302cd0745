//! `cradlectl exec -it` on a real pseudo-terminal against cradled's
//! streaming server: a busybox shell sees the terminal's size (and a new
//! one after SIGWINCH) on a /dev/pts tty, answers a typed command, and its
//! `exit 3` is cradlectl's exit code; the local terminal is raw during the
//! session and restored after it, also when SIGTERM ends it (exit 143).
//! `exec -i` without a tty pipes stdin to its end (`cat`) with stdout and
//! stderr apart and the exit code passed on; plain `exec` still goes
//! through ExecSync. One daemon, one registry, one pod.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cradle_tests::steps::{
    container_config, create_and_start, leak_scope, pod_config, pull, run_pod,
    stop_and_remove_container, stop_and_remove_pod,
};
use cradle_tests::{World, leaks, skip_unless_ready, target_bin_dir};
use nix::pty::{Winsize, openpty};
use nix::sys::signal::{Signal, kill};
use nix::sys::termios::{LocalFlags, tcgetattr};
use nix::unistd::Pid;

/// How long one cradlectl run may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cradlectl_exec_it_runs_a_shell_on_a_real_terminal() {
    skip_unless_ready!(true);
    let Ok(bin) = target_bin_dir().map(|d| d.join("cradlectl")) else {
        cradle_tests::skip("cannot locate the target dir");
        return;
    };
    if !bin.is_file() {
        cradle_tests::skip("cradlectl is not built (cargo build --workspace --bins)");
        return;
    }
    let mut w = World::start().await;
    let result = scenario(&mut w, &bin).await;
    w.finish_with_log(result).await;
}

async fn scenario(w: &mut World, bin: &Path) -> anyhow::Result<()> {
    let image = w.registry.image_ref();
    pull(&mut w.cri, &image).await?;
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod(&mut w.cri, &pod).await?;
    let sleeper = create_and_start(
        &mut w.cri,
        &pod_id,
        &pod,
        container_config(&image, "sleeper", &["sleep", "3600"]),
    )
    .await?;
    let ctl = Ctl {
        bin: bin.to_path_buf(),
        socket: w.daemon.socket(),
        id: sleeper.clone(),
    };
    let tty_ctl = ctl.clone();
    tokio::task::spawn_blocking(move || tty_session(&tty_ctl))
        .await?
        .context("exec -it")?;
    let term_ctl = ctl.clone();
    tokio::task::spawn_blocking(move || sigterm_restores_the_terminal(&term_ctl))
        .await?
        .context("exec -it ended by SIGTERM")?;
    piped_stdin(&ctl).await.context("exec -i")?;
    plain_exec_is_exec_sync(&ctl).await.context("exec")?;

    let scope = leak_scope(&w.daemon, &[&pod_id, &sleeper]);
    stop_and_remove_container(&mut w.cri, &sleeper).await?;
    stop_and_remove_pod(&mut w.cri, &pod_id).await?;
    leaks::assert_none(&scope);
    Ok(())
}

/// cradlectl against the world's daemon and one container.
#[derive(Clone)]
struct Ctl {
    bin: PathBuf,
    socket: PathBuf,
    id: String,
}

impl Ctl {
    /// `cradlectl --socket <socket> exec <flags> <id> -- <cmd>`.
    fn exec(&self, flags: &[&str], cmd: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .arg("--socket")
            .arg(&self.socket)
            .arg("exec")
            .args(flags)
            .arg(&self.id)
            .arg("--")
            .args(cmd);
        command
    }
}

/// `exec -it -- sh` on a 37×121 pty: the shell shows that size, a
/// /dev/pts tty and the typed arithmetic's answer; after a resize and
/// SIGWINCH it shows 50×100; `exit 3` is cradlectl's exit code, and the
/// pty is back in cooked mode afterwards.
fn tty_session(ctl: &Ctl) -> anyhow::Result<()> {
    let mut pty = Pty::spawn(ctl.exec(&["-it"], &["sh"]), 37, 121)?;
    pty.read_until("# ")
        .context("waiting for the shell's prompt")?;
    ensure!(pty.is_raw()?, "the terminal is not raw during the session");
    // The size reaches the shell with a delay: poll it (bounded) first.
    pty.write(
        b"n=0; while [ \"$(stty size 2>/dev/null)\" != '37 121' ] && [ $n -lt 50 ]; do n=$((n+1)); sleep 0.1; done; \
          echo \"size:$(stty size)\"; tty; echo hi-$((1+1))\n",
    )?;
    pty.read_until("hi-2\r\n")?;
    pty.resize(50, 100)?;
    kill(pty.pid(), Signal::SIGWINCH)?;
    pty.write(
        b"n=0; while [ \"$(stty size)\" != '50 100' ] && [ $n -lt 50 ]; do n=$((n+1)); sleep 0.1; done; \
          echo \"resized:$(stty size)\"; exit 3\n",
    )?;
    let status = pty.wait()?;
    let shown = pty.text();
    ensure!(
        status.code() == Some(3),
        "exit {status:?}; output {shown:?}"
    );
    for want in ["size:37 121", "/dev/pts/", "hi-2", "resized:50 100"] {
        ensure!(shown.contains(want), "no {want:?} in {shown:?}");
    }
    ensure!(!pty.is_raw()?, "the terminal stayed raw after the session");
    Ok(())
}

/// SIGTERM to `exec -it` mid-session: exit 128 + 15, terminal restored.
fn sigterm_restores_the_terminal(ctl: &Ctl) -> anyhow::Result<()> {
    let mut pty = Pty::spawn(ctl.exec(&["-t", "-i"], &["sh"]), 24, 80)?;
    pty.read_until("# ")?;
    ensure!(pty.is_raw()?, "the terminal is not raw during the session");
    kill(pty.pid(), Signal::SIGTERM)?;
    let status = pty.wait()?;
    ensure!(
        status.code() == Some(143),
        "exit {status:?}: {:?}",
        pty.text()
    );
    ensure!(!pty.is_raw()?, "SIGTERM left the terminal raw");
    Ok(())
}

/// `exec -i` with piped stdin and no tty: the input comes back whole from
/// `cat` (so its end reached the command), stderr apart, exit code 7.
async fn piped_stdin(ctl: &Ctl) -> anyhow::Result<()> {
    let input: Vec<u8> = (0..40_000u32)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let mut command = ctl.exec(&["-i"], &["sh", "-c", "cat; echo to-stderr >&2; exit 7"]);
    let out = run_with_input(&mut command, input.clone()).await?;
    ensure!(out.status.code() == Some(7), "exit {:?}", out.status);
    ensure!(
        out.stdout == input,
        "stdout differs: {} of {} bytes",
        out.stdout.len(),
        input.len()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(stderr == "to-stderr\n", "stderr {stderr:?}");
    Ok(())
}

/// Without `-i`/`-t`, `exec` prints the ExecSync answer and exits 0.
async fn plain_exec_is_exec_sync(ctl: &Ctl) -> anyhow::Result<()> {
    let mut command = ctl.exec(&[], &["sh", "-c", "echo plain; exit 4"]);
    let out = run_with_input(&mut command, Vec::new()).await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "exit {:?}: {stdout}", out.status);
    ensure!(
        stdout.contains("plain") && stdout.contains("exit code: 4"),
        "{stdout:?}"
    );
    Ok(())
}

/// Runs `command` with `input` on its stdin, bounded by [`RUN_LIMIT`].
async fn run_with_input(
    command: &mut Command,
    input: Vec<u8>,
) -> anyhow::Result<std::process::Output> {
    let mut command =
        tokio::process::Command::from(std::mem::replace(command, Command::new("/bin/false")));
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("spawning cradlectl")?;
    let mut stdin = child.stdin.take().context("no stdin pipe")?;
    let feed = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        let _ = stdin.write_all(&input).await;
    });
    let out = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .context("cradlectl did not finish in time")??;
    let _ = feed.await;
    Ok(out)
}

/// A child on a pseudo-terminal: its stdin, stdout and stderr are the
/// pty's slave; we hold the master, and what it printed so far.
struct Pty {
    master: OwnedFd,
    child: Option<Child>,
    pid: Pid,
    output: Vec<u8>,
    deadline: Instant,
}

impl Pty {
    /// Starts `command` on a new `rows`×`cols` pty.
    fn spawn(mut command: Command, rows: u16, cols: u16) -> anyhow::Result<Pty> {
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).context("openpty")?;
        let child = command
            .stdin(Stdio::from(pty.slave.try_clone()?))
            .stdout(Stdio::from(pty.slave.try_clone()?))
            .stderr(Stdio::from(pty.slave))
            .spawn()
            .context("spawning cradlectl")?;
        // `command` holds the slave's copies until dropped: the master sees
        // EOF (EIO) only once the child alone has them.
        drop(command);
        let pid = Pid::from_raw(i32::try_from(child.id())?);
        Ok(Pty {
            master: pty.master,
            child: Some(child),
            pid,
            output: Vec::new(),
            deadline: Instant::now() + RUN_LIMIT,
        })
    }

    fn pid(&self) -> Pid {
        self.pid
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    fn write(&self, bytes: &[u8]) -> anyhow::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = nix::unistd::write(&self.master, rest).context("writing to the pty")?;
            rest = &rest[n..];
        }
        Ok(())
    }

    /// Reads what is there within 100 ms; false at the end (EIO once the
    /// child and its copies of the slave are gone).
    fn read_some(&mut self) -> anyhow::Result<bool> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(100u16))? == 0 {
            return Ok(true);
        }
        let mut buf = [0u8; 4096];
        match nix::unistd::read(&self.master, &mut buf) {
            Ok(0) | Err(nix::errno::Errno::EIO) => Ok(false),
            Ok(n) => {
                self.output.extend_from_slice(&buf[..n]);
                Ok(true)
            }
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => Ok(true),
            Err(e) => Err(e).context("reading the pty"),
        }
    }

    /// Reads until the output contains `needle` (bounded).
    fn read_until(&mut self, needle: &str) -> anyhow::Result<()> {
        while !self.text().contains(needle) {
            if Instant::now() > self.deadline {
                bail!("no {needle:?} in time; output {:?}", self.text());
            }
            if !self.read_some()? {
                bail!("the pty closed before {needle:?}; output {:?}", self.text());
            }
        }
        Ok(())
    }

    /// Reads to the end and reaps the child (killed at the deadline).
    fn wait(&mut self) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().context("already waited for")?;
        loop {
            if Instant::now() > self.deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("cradlectl still running; output {:?}", self.text());
            }
            if !self.read_some()? {
                break;
            }
            if child.try_wait()?.is_some() {
                // Drain what it wrote before it went.
                while self.read_some()? && Instant::now() < self.deadline {}
                break;
            }
        }
        Ok(child.wait()?)
    }

    /// Sets the terminal's window size (the kernel does not signal a
    /// process whose controlling terminal it is not: send SIGWINCH after).
    fn resize(&self, rows: u16, cols: u16) -> anyhow::Result<()> {
        nix::ioctl_write_ptr_bad!(tiocswinsz, nix::libc::TIOCSWINSZ, Winsize);
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: the master fd is open for the call and `size` is a valid
        // winsize, read by TIOCSWINSZ only.
        unsafe { tiocswinsz(self.master.as_raw_fd(), &size) }.context("TIOCSWINSZ")?;
        Ok(())
    }

    /// Whether the terminal is in raw mode (no canonical input, no echo);
    /// on Linux a pty master reads its slave's settings.
    fn is_raw(&self) -> anyhow::Result<bool> {
        let flags = tcgetattr(&self.master)?.local_flags;
        Ok(!flags.intersects(LocalFlags::ICANON | LocalFlags::ECHO))
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
