//! Attach: the container's output, from now on, to whoever connects to
//! `<state-dir>/attach.sock` ([`cradle_proto::shim::ATTACH_SOCKET_FILE`]).
//!
//! Every chunk the shim reads from the container's stdout or stderr (and logs)
//! is also sent to each attached client as one frame (stream id, length,
//! bytes; [`cradle_proto::shim::attach_frame`]). When the init exits, the
//! clients are closed after the last output, so they see EOF. A client that
//! cannot take a frame within [`SEND_TIMEOUT`] is dropped rather than stall
//! the shim's single-threaded loop.
//!
//! With `--stdin` the shim also holds the container's stdin pipe
//! ([`StdinPipe`]): clients may send frames with stream id
//! [`cradle_proto::shim::ATTACH_STDIN`], whose bytes go to the pipe; an empty
//! one means "this client's stdin ended". With `--stdin-once`, the end of the
//! first client that carried stdin (its empty frame or its hang-up) closes the
//! pipe, so the container sees EOF, and later clients get no stdin.
//!
//! For a tty container the output is the terminal's (sent as stdout), the
//! stdin "pipe" writes to the pty master, and clients may send resize frames
//! ([`cradle_proto::shim::ATTACH_RESIZE`]) that set the terminal's size; so
//! clients are read whenever there is a terminal, with or without stdin.

use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cradle_proto::shim::{ATTACH_HEADER_LEN, ATTACH_RESIZE, ATTACH_STDIN, parse_resize};
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, recv};

use super::ShimError;
use super::console::Console;
use super::logger::Stream;
use super::stdin::StdinPipe;

/// Longest a frame may take to reach a client before the client is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// The attach socket and its clients. Dropping it removes the socket file.
#[derive(Debug)]
pub struct Attach {
    path: PathBuf,
    listener: UnixListener,
    clients: Vec<Client>,
    /// The container's stdin (`--stdin`), until closed.
    stdin: Option<StdinPipe>,
    /// The container's terminal (tty containers), for resizes.
    console: Option<Console>,
}

/// One attached client and the part of a frame it has sent so far.
#[derive(Debug)]
struct Client {
    stream: UnixStream,
    inbound: Vec<u8>,
    /// It sent stdin (so, with stdin_once, its end closes the container's stdin).
    carried_stdin: bool,
    /// False once it shut down its sending side (it still gets output).
    reading: bool,
}

/// Largest stdin frame a client may send (the daemon sends at most 32 KiB).
const MAX_STDIN_FRAME: usize = 1024 * 1024;

impl Attach {
    /// Binds `path` (non-blocking accepts).
    pub fn bind(path: &Path) -> Result<Attach, ShimError> {
        let listener = crate::sockpath::bind(path)
            .map_err(ShimError::io(format!("binding {}", path.display())))?;
        let attach = Attach {
            path: path.to_path_buf(),
            listener,
            clients: Vec::new(),
            stdin: None,
            console: None,
        };
        attach
            .listener
            .set_nonblocking(true)
            .map_err(ShimError::io("making the attach socket non-blocking"))?;
        Ok(attach)
    }

    /// Also carry clients' stdin to `pipe`.
    pub fn with_stdin(mut self, pipe: StdinPipe) -> Attach {
        self.stdin = Some(pipe);
        self
    }

    /// Apply clients' resize frames to `console` (and keep it, so the
    /// terminal stays open as long as the shim).
    pub fn with_console(mut self, console: Console) -> Attach {
        self.console = Some(console);
        self
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
                        Ok(()) => self.clients.push(Client {
                            stream: client,
                            inbound: Vec::new(),
                            carried_stdin: false,
                            reading: true,
                        }),
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
        let mut gone = Vec::new();
        self.clients.retain_mut(|client| {
            let ok = client.stream.write_all(&frame).is_ok();
            if !ok {
                gone.push(client.carried_stdin);
            }
            ok
        });
        for carried in gone {
            self.client_ended(carried);
        }
    }

    /// Ends every client's stream and closes stdin (the init exited).
    pub fn close_all(&mut self) {
        for client in self.clients.drain(..) {
            let _ = client.stream.shutdown(std::net::Shutdown::Both);
        }
        self.stdin = None;
    }

    /// The clients, to poll for input while stdin is open and not backed up,
    /// or while there is a terminal to resize (and stdin is not backed up).
    pub fn client_poll_fds(&self) -> Vec<BorrowedFd<'_>> {
        let wanted = match &self.stdin {
            Some(pipe) => pipe.accepts_more(),
            None => self.console.is_some(),
        };
        if !wanted {
            return Vec::new();
        }
        self.clients
            .iter()
            .filter(|c| c.reading)
            .map(|c| c.stream.as_fd())
            .collect()
    }

    /// The stdin pipe, to poll for room while bytes wait for it.
    pub fn stdin_poll_fd(&self) -> Option<BorrowedFd<'_>> {
        self.stdin.as_ref().and_then(StdinPipe::poll_fd)
    }

    /// Writes queued stdin bytes (the pipe has room).
    pub fn flush_stdin(&mut self) {
        if let Some(pipe) = self.stdin.as_mut()
            && !pipe.flush()
        {
            self.stdin = None;
        }
    }

    /// Reads what every client sent, without blocking: stdin frames go to the
    /// pipe. A client that shut down its sending side (or hung up) has ended
    /// its input but keeps getting output until a write fails; one that broke
    /// the protocol is dropped.
    pub fn read_clients(&mut self) {
        let mut index = 0;
        while index < self.clients.len() {
            if !self.clients[index].reading {
                index += 1;
                continue;
            }
            match self.read_client(index) {
                Ok(true) => index += 1,
                Ok(false) => {
                    let client = &mut self.clients[index];
                    client.reading = false;
                    client.inbound = Vec::new();
                    let carried = client.carried_stdin;
                    self.client_ended(carried);
                    index += 1;
                }
                Err(reason) => {
                    crate::diag!("attach client dropped: {reason}");
                    let client = self.clients.remove(index);
                    self.client_ended(client.carried_stdin);
                }
            }
        }
    }

    /// One client's pending input: Ok(false) at the end of its input, Err
    /// with a reason when it must be dropped.
    fn read_client(&mut self, index: usize) -> Result<bool, String> {
        let mut buf = [0u8; 32 * 1024];
        loop {
            if self.stdin.as_ref().is_some_and(|pipe| !pipe.accepts_more()) {
                return Ok(true);
            }
            let client = &mut self.clients[index];
            match recv(client.stream.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => return Ok(false),
                Ok(n) => client.inbound.extend_from_slice(&buf[..n]),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(true),
                Err(error) => return Err(error.to_string()),
            }
            self.take_frames(index)?;
        }
    }

    /// Handles the complete frames `index` has sent.
    fn take_frames(&mut self, index: usize) -> Result<(), String> {
        loop {
            let inbound = &self.clients[index].inbound;
            if inbound.len() < ATTACH_HEADER_LEN {
                return Ok(());
            }
            let len = u32::from_be_bytes([inbound[1], inbound[2], inbound[3], inbound[4]]) as usize;
            let stream = inbound[0];
            let resize = stream == ATTACH_RESIZE && self.console.is_some() && len == 4;
            if !(resize || stream == ATTACH_STDIN) || len > MAX_STDIN_FRAME {
                return Err(format!("bad frame (stream {stream}, {len} bytes)"));
            }
            if inbound.len() < ATTACH_HEADER_LEN + len {
                return Ok(());
            }
            let frame: Vec<u8> = self.clients[index]
                .inbound
                .drain(..ATTACH_HEADER_LEN + len)
                .skip(ATTACH_HEADER_LEN)
                .collect();
            if resize {
                if let (Some(console), Some((width, height))) =
                    (self.console.as_ref(), parse_resize(&frame))
                    && let Err(error) = console.resize(width, height)
                {
                    crate::diag!("attach resize to {width}x{height}: {error}");
                }
                continue;
            }
            let client = &mut self.clients[index];
            let Some(pipe) = self.stdin.as_mut() else {
                continue;
            };
            client.carried_stdin = true;
            if frame.is_empty() {
                // This client's stdin ended: with stdin_once, so does the container's.
                if pipe.once && !pipe.close_after_flush() {
                    self.stdin = None;
                }
            } else if !pipe.push(&frame) {
                self.stdin = None;
            }
        }
    }

    /// A client went away: with stdin_once, one that carried stdin closes it.
    fn client_ended(&mut self, carried_stdin: bool) {
        if carried_stdin
            && let Some(pipe) = self.stdin.as_mut()
            && pipe.once
            && !pipe.close_after_flush()
        {
            self.stdin = None;
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
        assert!(attach.client_poll_fds().is_empty());
        attach.close_all();
        let mut got = Vec::new();
        stays.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), 2 * 6);
    }

    #[test]
    fn with_a_terminal_clients_are_read_without_stdin_and_resize_frames_set_its_size() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attach.sock");
        let pty = nix::pty::openpty(None, None).unwrap();
        let console = Console::new(pty.master).unwrap();
        let mut attach = Attach::bind(&path).unwrap().with_console(console);
        let mut client = UnixStream::connect(&path).unwrap();
        attach.accept_all();
        assert_eq!(attach.client_poll_fds().len(), 1);
        let payload = cradle_proto::shim::resize_payload(120, 40);
        client
            .write_all(&cradle_proto::shim::attach_frame(ATTACH_RESIZE, &payload))
            .unwrap();
        attach.read_clients();
        let mut size = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: test: TIOCGWINSZ writes one winsize into `size`.
        let rc = unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
        assert_eq!(rc, 0);
        assert_eq!((size.ws_col, size.ws_row), (120, 40));
        assert_eq!(attach.clients.len(), 1);
        // A resize of the wrong length breaks the protocol.
        client
            .write_all(&cradle_proto::shim::attach_frame(ATTACH_RESIZE, b"xyz"))
            .unwrap();
        attach.read_clients();
        assert!(attach.clients.is_empty());
    }

    #[test]
    fn without_a_terminal_a_resize_frame_drops_the_client() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attach.sock");
        let (_read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut attach = Attach::bind(&path)
            .unwrap()
            .with_stdin(StdinPipe::new(write, false).unwrap());
        let mut client = UnixStream::connect(&path).unwrap();
        attach.accept_all();
        let payload = cradle_proto::shim::resize_payload(80, 24);
        client
            .write_all(&cradle_proto::shim::attach_frame(ATTACH_RESIZE, &payload))
            .unwrap();
        attach.read_clients();
        assert!(attach.clients.is_empty());
    }

    #[test]
    fn stdin_frames_split_across_reads_reach_the_pipe_a_bad_frame_drops_the_client_and_a_half_close_ends_input_only()
     {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attach.sock");
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut attach = Attach::bind(&path)
            .unwrap()
            .with_stdin(StdinPipe::new(write, true).unwrap());
        let mut good = UnixStream::connect(&path).unwrap();
        let mut bad = UnixStream::connect(&path).unwrap();
        attach.accept_all();
        let frame = cradle_proto::shim::attach_frame(ATTACH_STDIN, b"split");
        good.write_all(&frame[..3]).unwrap();
        attach.read_clients();
        good.write_all(&frame[3..]).unwrap();
        bad.write_all(&cradle_proto::shim::attach_frame(9, b"?"))
            .unwrap();
        attach.read_clients();
        assert_eq!(attach.clients.len(), 1);
        // The good client ends its input: stdin_once closes the pipe after
        // its bytes, and the client still gets output.
        good.shutdown(std::net::Shutdown::Write).unwrap();
        attach.read_clients();
        assert!(attach.stdin.is_none());
        let mut got = String::new();
        std::fs::File::from(read).read_to_string(&mut got).unwrap();
        assert_eq!(got, "split");
        attach.send(Stream::Stdout, b"answer");
        attach.close_all();
        let mut output = Vec::new();
        good.read_to_end(&mut output).unwrap();
        assert_eq!(output, cradle_proto::shim::attach_frame(1, b"answer"));
    }
}
