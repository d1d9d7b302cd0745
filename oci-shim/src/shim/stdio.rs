//! The read ends of the container's stdout and stderr pipes.
//!
//! The container init got the write ends from the runtime; the shim reads
//! them without blocking and hands every chunk to the CRI log writer. A tty
//! container's output comes from its pty master instead
//! ([`ContainerStdio::use_terminal`]), logged as stdout.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use super::ShimError;
use super::attach::Attach;
use super::logger::{CriLog, Stream};

const CHUNK: usize = 32 * 1024;

/// The container's output pipes; a pipe is dropped once it reaches EOF.
#[derive(Debug, Default)]
pub struct ContainerStdio {
    stdout: Option<File>,
    stderr: Option<File>,
    /// Attached clients also get every chunk (container mode).
    attach: Option<Attach>,
}

impl ContainerStdio {
    /// No pipes (sandbox mode).
    pub fn none() -> ContainerStdio {
        ContainerStdio::default()
    }

    /// Wrap the read ends, switching them to non-blocking.
    pub fn new(stdout: OwnedFd, stderr: OwnedFd) -> Result<ContainerStdio, ShimError> {
        for fd in [&stdout, &stderr] {
            fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
                .map_err(ShimError::sys("making a stdio pipe non-blocking"))?;
        }
        Ok(ContainerStdio {
            stdout: Some(File::from(stdout)),
            stderr: Some(File::from(stderr)),
            attach: None,
        })
    }

    /// Read the container's output from its pty master (a duplicate of it)
    /// instead of the stdout pipe, as stdout. EIO from it (every slave
    /// closed) is its end, like a pipe's EOF.
    pub fn use_terminal(&mut self, master: OwnedFd) -> Result<(), ShimError> {
        fcntl(&master, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .map_err(ShimError::sys("making the terminal non-blocking"))?;
        self.stdout = Some(File::from(master));
        Ok(())
    }

    /// Also send the output to the clients of `attach`.
    pub fn with_attach(mut self, attach: Attach) -> ContainerStdio {
        self.attach = Some(attach);
        self
    }

    /// The attach socket's listener, for the poll loop.
    pub fn attach_poll_fd(&self) -> Option<BorrowedFd<'_>> {
        self.attach.as_ref().map(Attach::poll_fd)
    }

    /// Accept the clients waiting on the attach socket.
    pub fn accept_attach(&mut self) {
        if let Some(attach) = self.attach.as_mut() {
            attach.accept_all();
        }
    }

    /// Attached clients to poll for stdin, and the stdin pipe when bytes wait for room.
    pub fn attach_input_fds(&self) -> (Vec<BorrowedFd<'_>>, Option<BorrowedFd<'_>>) {
        match &self.attach {
            Some(attach) => (attach.client_poll_fds(), attach.stdin_poll_fd()),
            None => (Vec::new(), None),
        }
    }

    /// Carry what attached clients sent to the container's stdin.
    pub fn read_attached(&mut self) {
        if let Some(attach) = self.attach.as_mut() {
            attach.read_clients();
        }
    }

    /// Write queued stdin bytes (the pipe has room).
    pub fn flush_stdin(&mut self) {
        if let Some(attach) = self.attach.as_mut() {
            attach.flush_stdin();
        }
    }

    /// End the attached clients' streams (the init exited, its output is drained).
    pub fn close_attached(&mut self) {
        if let Some(attach) = self.attach.as_mut() {
            attach.close_all();
        }
    }

    /// The open pipes, to poll for input.
    pub fn poll_set(&self) -> Vec<(Stream, BorrowedFd<'_>)> {
        let mut set = Vec::new();
        if let Some(file) = &self.stdout {
            set.push((Stream::Stdout, file.as_fd()));
        }
        if let Some(file) = &self.stderr {
            set.push((Stream::Stderr, file.as_fd()));
        }
        set
    }

    /// Read one chunk of `which` into the log; true while more may follow.
    pub fn pump(&mut self, which: Stream, log: &mut CriLog) -> bool {
        let slot = match which {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        let Some(file) = slot.as_mut() else {
            return false;
        };
        let mut buf = vec![0u8; CHUNK];
        loop {
            match file.read(&mut buf) {
                Ok(0) => {
                    *slot = None;
                    return false;
                }
                Ok(n) => {
                    if let Err(error) = log.write_chunk(which, &buf[..n]) {
                        crate::diag!("{error}");
                    }
                    if let Some(attach) = self.attach.as_mut() {
                        attach.send(which, &buf[..n]);
                    }
                    return true;
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) if error.kind() == ErrorKind::WouldBlock => return false,
                // A pty master once the container's terminal is closed: its EOF.
                Err(error) if error.raw_os_error() == Some(libc::EIO) => {
                    *slot = None;
                    return false;
                }
                Err(error) => {
                    crate::diag!("reading container {}: {error}", which.tag());
                    *slot = None;
                    return false;
                }
            }
        }
    }

    /// Read everything available now on both pipes (used when the init exits).
    pub fn drain(&mut self, log: &mut CriLog) {
        for which in [Stream::Stdout, Stream::Stderr] {
            while self.pump(which, log) {}
        }
    }

    /// Everything available now on stderr, as text (the runtime's message after a failed create).
    pub fn take_stderr_text(&mut self) -> String {
        let mut text = Vec::new();
        if let Some(file) = self.stderr.as_mut() {
            let mut buf = [0u8; 4096];
            while let Ok(n) = file.read(&mut buf) {
                if n == 0 || text.len() > 64 * 1024 {
                    break;
                }
                text.extend_from_slice(&buf[..n]);
            }
        }
        String::from_utf8_lossy(&text).trim().to_string()
    }
}
