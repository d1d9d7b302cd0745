//! Child processes measured one by one: spawn, then `wait4` for the exit
//! status AND that child's own peak RSS (`ru_maxrss`), which getrusage's
//! RUSAGE_CHILDREN cannot give per process (it is a maximum over all children).
//!
//! The benchmark makes itself a child subreaper, so a container's init — which
//! the launcher forks and then leaves — becomes our child when `create` exits,
//! and its peak RSS (which includes the launcher's pre-exec stage: the kernel
//! carries the high-water mark across execve) is measured the same way. That
//! figure is true: the init is forked by the launcher, not by us.
//!
//! The processes we spawn ourselves are another matter: std's `Command`
//! uses vfork/posix_spawn, so at execve the kernel records OUR mm's
//! high-water mark as the child's (fs/exec.c, exec_mmap:
//! `setmax_mm_hiwater_rss(&tsk->signal->maxrss, old_mm)`), and their
//! `ru_maxrss` never goes below the bench's own peak (about 4 MiB). [`run`]
//! is for timing; launcher memory goes through `rss_trampoline`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How a measured process ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub elapsed: Duration,
    /// Peak resident set of the process (and the children it waited for),
    /// KiB; floored at our own peak (see [`run`]).
    pub maxrss_kib: u64,
}

/// Makes this process the reaper of its orphaned descendants.
pub fn become_subreaper() -> anyhow::Result<()> {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes an integer flag and touches
    // no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc != 0 {
        bail!(
            "PR_SET_CHILD_SUBREAPER: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Waits (polling every 200 µs, at most `timeout`) for child `pid`.
/// `Ok(None)`: `pid` is not our child (ECHILD).
pub fn wait_child(pid: i32, timeout: Duration) -> anyhow::Result<Option<(i32, u64)>> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: all-zero is a valid rusage; wait4 writes only into `status`
        // and `usage`, both live locals.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: see above; WNOHANG makes the call non-blocking.
        let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if rc == pid {
            return Ok(Some((status, u64::try_from(usage.ru_maxrss).unwrap_or(0))));
        }
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ECHILD) {
                return Ok(None);
            }
            if err.raw_os_error() != Some(libc::EINTR) {
                bail!("wait4({pid}): {err}");
            }
        }
        if Instant::now() > deadline {
            bail!("process {pid} still running after {timeout:?}");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Decodes a wait status into an exit code (None: killed by a signal).
pub fn exit_code(status: i32) -> Option<i32> {
    if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    }
}

/// A child run to its end by [`spawn_and_wait`].
#[derive(Debug)]
pub struct Finished {
    pub elapsed: Duration,
    /// Raw wait status.
    pub status: i32,
    /// `ru_maxrss` of the child (and the children it waited for), KiB.
    pub maxrss_kib: u64,
    /// What the child wrote to stderr (an unnamed temp file; [`read_all`]).
    pub stderr: std::fs::File,
}

/// Spawns `cmd` (stdin and stdout null, stderr to a temp file) and waits for
/// it with wait4, whatever its exit status.
pub fn spawn_and_wait(cmd: &mut Command, timeout: Duration) -> anyhow::Result<Finished> {
    let err = tempfile::tempfile()?;
    let t0 = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err.try_clone()?)
        .spawn()
        .with_context(|| format!("spawning {:?}", cmd.get_program()))?;
    let pid = i32::try_from(child.id())?;
    // `child` is never waited through std: wait4 below reaps it.
    let (status, maxrss_kib) =
        wait_child(pid, timeout)?.context("spawned process is not our child")?;
    Ok(Finished {
        elapsed: t0.elapsed(),
        status,
        maxrss_kib,
        stderr: err,
    })
}

/// Runs `cmd` to completion; fails with its stderr when it does not exit 0.
///
/// Its `maxrss_kib` is never below our own peak RSS: std spawns with
/// vfork/posix_spawn, so the child execs out of OUR mm, and execve records
/// the old mm's high-water mark as the new program's (fs/exec.c,
/// exec_mmap). For a launcher's own figure run it through
/// `rss_trampoline` instead.
pub fn run(cmd: &mut Command, timeout: Duration) -> anyhow::Result<Exit> {
    let done = spawn_and_wait(cmd, timeout)?;
    if exit_code(done.status) != Some(0) {
        let text = read_all(done.stderr);
        bail!(
            "{:?} exited with {:#x}: {}",
            cmd.get_program(),
            done.status,
            text.trim()
        );
    }
    Ok(Exit {
        elapsed: done.elapsed,
        maxrss_kib: done.maxrss_kib,
    })
}

/// The whole content of an unnamed temp file written by a child.
pub fn read_all(mut f: std::fs::File) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut s = String::new();
    let _ = f
        .seek(SeekFrom::Start(0))
        .and_then(|_| f.read_to_string(&mut s));
    s
}

/// Reaps every exited child we were handed as subreaper (never blocks).
pub fn reap_orphans() {
    // Bounded: each successful call removes one zombie.
    for _ in 0..10_000 {
        let mut status = 0;
        // SAFETY: waitpid writes only into the local `status`.
        if unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } <= 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_decoding() {
        assert_eq!(exit_code(0), Some(0));
        assert_eq!(exit_code(3 << 8), Some(3));
        assert_eq!(exit_code(9), None);
    }
}
