//! The write end of the container's stdin pipe (`--stdin`).
//!
//! Attach clients' stdin bytes are queued here and written without blocking
//! from the poll loop: a container that does not read its stdin must never
//! stall the shim. While the queue is above [`HIGH_WATER`] the attach clients
//! are not read (backpressure reaches the client through its socket).

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use super::ShimError;

/// Queued bytes above which the shim stops reading attach clients.
pub const HIGH_WATER: usize = 1024 * 1024;

/// The container's stdin, open until closed on purpose or broken.
#[derive(Debug)]
pub struct StdinPipe {
    file: File,
    pending: Vec<u8>,
    /// Close once `pending` is written (stdin_once, or a client's close frame).
    close_when_flushed: bool,
    /// `--stdin-once`: the first attach that carried stdin closes it when it ends.
    pub once: bool,
}

impl StdinPipe {
    /// Wraps the write end, switching it to non-blocking.
    pub fn new(write: OwnedFd, once: bool) -> Result<StdinPipe, ShimError> {
        fcntl(&write, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .map_err(ShimError::sys("making the stdin pipe non-blocking"))?;
        Ok(StdinPipe {
            file: File::from(write),
            pending: Vec::new(),
            close_when_flushed: false,
            once,
        })
    }

    /// Queues `data` and writes what the pipe takes now. False once the pipe
    /// is done (broken, or closed after its last bytes): drop it.
    pub fn push(&mut self, data: &[u8]) -> bool {
        if !self.close_when_flushed {
            self.pending.extend_from_slice(data);
        }
        self.flush()
    }

    /// Asks for the pipe to close once the queued bytes are written.
    /// False when it is done now: drop it.
    pub fn close_after_flush(&mut self) -> bool {
        self.close_when_flushed = true;
        self.flush()
    }

    /// Writes queued bytes; false once the pipe is done (see [`Self::push`]).
    pub fn flush(&mut self) -> bool {
        while !self.pending.is_empty() {
            match self.file.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) if error.kind() == ErrorKind::WouldBlock => return true,
                Err(error) => {
                    crate::diag!("writing the container's stdin: {error}");
                    return false;
                }
            }
        }
        !self.close_when_flushed
    }

    /// The pipe, to poll for room while bytes are queued.
    pub fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
        (!self.pending.is_empty()).then(|| self.file.as_fd())
    }

    /// True while clients may be read (the queue is below [`HIGH_WATER`]).
    pub fn accepts_more(&self) -> bool {
        self.pending.len() < HIGH_WATER
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn bytes_reach_the_reader_and_a_close_request_ends_with_eof_after_them() {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let mut pipe = StdinPipe::new(write, true).unwrap();
        assert!(pipe.push(b"hello\n"));
        assert!(pipe.poll_fd().is_none());
        assert!(!pipe.close_after_flush());
        drop(pipe);
        let mut got = String::new();
        File::from(read).read_to_string(&mut got).unwrap();
        assert_eq!(got, "hello\n");
    }

    #[test]
    fn a_full_pipe_queues_instead_of_blocking_and_a_gone_reader_ends_the_pipe() {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let mut pipe = StdinPipe::new(write, false).unwrap();
        assert!(pipe.push(&vec![7u8; 256 * 1024]));
        assert!(pipe.poll_fd().is_some());
        drop(read);
        assert!(!pipe.flush());
    }
}
