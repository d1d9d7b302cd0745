//! Attach: the container's output, from now on, to whoever connects to
//! `<state-dir>/attach.sock` ([`cradle_proto::shim::ATTACH_SOCKET_FILE`]).
//!
//! Every chunk the shim reads from the container's stdout or stderr (and logs)
//! is also sent to each attached client as one frame (stream id, length,
//! bytes; [`cradle_proto::shim::attach_frame`]). When the init exits, the
//! clients are closed after the last output, so they see EOF. A client that
//! cannot take a frame within [`SEND_TIMEOUT`] is dropped rather than stall
//! the shim's single-threaded loop. Stdin and tty are not supported yet.

use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ShimError;
use super::logger::Stream;

/// Longest a frame may take to reach a client before the client is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// The attach socket and its clients. Dropping it removes the socket file.
#[derive(Debug)]
pub struct Attach {
    path: PathBuf,
    listener: UnixListener,
    clients: Vec<UnixStream>,
}

impl Attach {
    /// Binds `path` (non-blocking accepts).
    pub fn bind(path: &Path) -> Result<Attach, ShimError> {
        let listener = UnixListener::bind(path)
            .map_err(ShimError::io(format!("binding {}", path.display())))?;
        let attach = Attach {
            path: path.to_path_buf(),
            listener,
            clients: Vec::new(),
        };
        attach
            .listener
            .set_nonblocking(true)
            .map_err(ShimError::io("making the attach socket non-blocking"))?;
        Ok(attach)
    }

    /// The listener, for the poll loop.
    pub fn poll_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// Takes every pending connection.
    pub fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((client, _)) => {
                    let ready = client
                        .set_nonblocking(false)
                        .and_then(|()| client.set_write_timeout(Some(SEND_TIMEOUT)));
                    match ready {
                        Ok(()) => self.clients.push(client),
                        Err(error) => crate::diag!("attach client: {error}"),
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => {
                    crate::diag!("attach accept: {error}");
                    return;
                }
            }
        }
    }

    /// Sends one chunk of `which` to every client; drops those that fail.
    pub fn send(&mut self, which: Stream, chunk: &[u8]) {
        if self.clients.is_empty() || chunk.is_empty() {
            return;
        }
        let id = match which {
            Stream::Stdout => cradle_proto::shim::ATTACH_STDOUT,
            Stream::Stderr => cradle_proto::shim::ATTACH_STDERR,
        };
        let frame = cradle_proto::shim::attach_frame(id, chunk);
        self.clients
            .retain_mut(|client| client.write_all(&frame).is_ok());
    }

    /// Ends every client's stream (the init exited).
    pub fn close_all(&mut self) {
        for client in self.clients.drain(..) {
            let _ = client.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Attach {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn clients_get_framed_output_then_eof_and_the_socket_goes_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attach.sock");
        let mut attach = Attach::bind(&path).unwrap();
        attach.send(Stream::Stdout, b"before anyone attached");
        let mut client = UnixStream::connect(&path).unwrap();
        attach.accept_all();
        attach.send(Stream::Stdout, b"out");
        attach.send(Stream::Stderr, b"err!");
        attach.close_all();
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        let mut want = cradle_proto::shim::attach_frame(1, b"out");
        want.extend(cradle_proto::shim::attach_frame(2, b"err!"));
        assert_eq!(got, want);
        drop(attach);
        assert!(!path.exists());
    }

    #[test]
    fn a_gone_client_is_dropped_and_others_keep_receiving() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attach.sock");
        let mut attach = Attach::bind(&path).unwrap();
        let gone = UnixStream::connect(&path).unwrap();
        let mut stays = UnixStream::connect(&path).unwrap();
        attach.accept_all();
        drop(gone);
        attach.send(Stream::Stdout, b"a");
        attach.send(Stream::Stdout, b"b");
        assert_eq!(attach.clients.len(), 1);
        attach.close_all();
        let mut got = Vec::new();
        stays.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), 2 * 6);
    }
}
