//! The protocol server: the listening socket, client connections and line framing.
//!
//! All sockets are non-blocking; a connection's input is buffered until a
//! full line arrives, and its output until the peer can take it, so a slow or
//! dead client never blocks the shim's loop. Requests of one connection are
//! answered in order: a parked request (`Wait`, or a `Delete` waiting for the
//! init to die) holds back the lines after it until it is answered.

use std::collections::BTreeMap;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use cradle_proto::shim::{Request, Response, decode, encode};
use nix::poll::PollFlags;

use super::ShimError;

/// Longest request line accepted; a client sending more is dropped.
const MAX_LINE: usize = 64 * 1024;

/// Identifies one client connection.
pub type ConnId = u64;

/// What handles decoded requests: the shim's core.
pub trait Handler {
    /// Answer `request` now (`Some`), or park it (`None`) to be answered
    /// later through [`Server::answer`].
    fn handle(&mut self, conn: ConnId, request: Request) -> Option<Response>;
}

/// Something the poll loop watches for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The listening socket.
    Listener,
    /// A client connection.
    Conn(ConnId),
}

#[derive(Debug)]
struct Conn {
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    parked: bool,
    /// The peer closed its side (or broke the framing); drop once flushed.
    closing: bool,
}

/// The shim's listening socket and its clients.
#[derive(Debug)]
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    conns: BTreeMap<ConnId, Conn>,
    next_id: ConnId,
}

impl Server {
    /// Listen on `path`, replacing a stale socket file but never a live shim's.
    pub fn bind(path: &Path) -> Result<Server, ShimError> {
        if path.exists() {
            if crate::sockpath::connect(path).is_ok() {
                return Err(ShimError::Invalid(format!(
                    "a shim already listens on {}",
                    path.display()
                )));
            }
            fs::remove_file(path)
                .map_err(ShimError::io(format!("removing stale {}", path.display())))?;
        }
        let listener = crate::sockpath::bind(path)
            .map_err(ShimError::io(format!("listening on {}", path.display())))?;
        let server = Server {
            listener,
            path: path.to_path_buf(),
            conns: BTreeMap::new(),
            next_id: 0,
        };
        server
            .listener
            .set_nonblocking(true)
            .map_err(ShimError::io("making the listener non-blocking"))?;
        Ok(server)
    }

    /// The fds to poll, with the events wanted for each.
    pub fn poll_set(&self) -> Vec<(Source, BorrowedFd<'_>, PollFlags)> {
        let mut set = vec![(Source::Listener, self.listener.as_fd(), PollFlags::POLLIN)];
        for (id, conn) in &self.conns {
            let mut events = PollFlags::empty();
            if !conn.closing {
                events |= PollFlags::POLLIN;
            }
            if !conn.output.is_empty() {
                events |= PollFlags::POLLOUT;
            }
            set.push((Source::Conn(*id), conn.stream.as_fd(), events));
        }
        set
    }

    /// Handle readiness of `source`.
    pub fn service(&mut self, source: Source, events: PollFlags, handler: &mut dyn Handler) {
        match source {
            Source::Listener => self.accept_all(),
            Source::Conn(id) => {
                if events.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                    self.read(id);
                    self.dispatch(id, handler);
                }
                self.flush(id);
            }
        }
    }

    /// Answer a parked request of `conn`, then go on with its next lines.
    /// A connection that is gone is skipped.
    pub fn answer(&mut self, id: ConnId, response: &Response, handler: &mut dyn Handler) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.parked = false;
        conn.output.extend_from_slice(&encode(response));
        self.dispatch(id, handler);
        self.flush(id);
    }

    /// Number of open connections.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Best effort: push out pending answers before the shim exits.
    pub fn flush_all(&mut self) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            if let Some(conn) = self.conns.get_mut(&id) {
                // A short blocking write: the answers are a few hundred bytes.
                let _ = conn.stream.set_nonblocking(false);
                let _ = conn
                    .stream
                    .set_write_timeout(Some(std::time::Duration::from_millis(200)));
                let _ = conn.stream.write_all(&conn.output);
                conn.output.clear();
            }
        }
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if let Err(error) = stream.set_nonblocking(true) {
                        crate::diag!("dropping a client: {error}");
                        continue;
                    }
                    let id = self.next_id;
                    self.next_id += 1;
                    self.conns.insert(
                        id,
                        Conn {
                            stream,
                            input: Vec::new(),
                            output: Vec::new(),
                            parked: false,
                            closing: false,
                        },
                    );
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => {
                    crate::diag!("accept: {error}");
                    return;
                }
            }
        }
    }

    fn read(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            match conn.stream.read(&mut buf) {
                Ok(0) => {
                    conn.closing = true;
                    return;
                }
                Ok(n) => {
                    conn.input.extend_from_slice(&buf[..n]);
                    if conn.input.len() > MAX_LINE && !conn.input.contains(&b'\n') {
                        crate::diag!("dropping a client: request line over {MAX_LINE} bytes");
                        conn.input.clear();
                        conn.closing = true;
                        return;
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    conn.closing = true;
                    conn.output.clear();
                    return;
                }
            }
        }
    }

    /// Decode and hand over complete lines until one is parked.
    fn dispatch(&mut self, id: ConnId, handler: &mut dyn Handler) {
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            if conn.parked {
                return;
            }
            let Some(end) = conn.input.iter().position(|b| *b == b'\n') else {
                return;
            };
            let line: Vec<u8> = conn.input.drain(..=end).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let response = match decode::<Request>(&line) {
                Ok(request) => handler.handle(id, request),
                Err(error) => Some(Response::Error {
                    message: format!("bad request: {error}"),
                }),
            };
            // The handler may not touch the server, so the connection is still there.
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            match response {
                Some(response) => conn.output.extend_from_slice(&encode(&response)),
                None => conn.parked = true,
            }
        }
    }

    fn flush(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        while !conn.output.is_empty() {
            match conn.stream.write(&conn.output) {
                Ok(0) => {
                    conn.closing = true;
                    conn.output.clear();
                }
                Ok(n) => {
                    conn.output.drain(..n);
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    // The peer is gone: nothing more can be delivered.
                    conn.closing = true;
                    conn.output.clear();
                }
            }
        }
        // A closed peer is dropped once its answers are out; a parked request
        // of a closed peer stays with the handler and is answered to nobody.
        if conn.closing && conn.output.is_empty() {
            self.conns.remove(&id);
        }
    }
}

impl Drop for Server {
    /// The socket file goes with the server, on success and failure paths alike.
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cradle_proto::shim::{ExitRecord, ProcessStatus, ShimState};
    use nix::poll::{PollFd, PollTimeout, poll};
    use std::io::{BufRead, BufReader};

    /// Answers `State` at once and parks `Wait`.
    #[derive(Default)]
    struct Fake {
        parked: Vec<ConnId>,
    }

    impl Handler for Fake {
        fn handle(&mut self, conn: ConnId, request: Request) -> Option<Response> {
            match request {
                Request::Wait => {
                    self.parked.push(conn);
                    None
                }
                Request::State => Some(Response::State(ShimState {
                    pid: 42,
                    status: ProcessStatus::Running,
                    started_at_ns: Some(1),
                    exit: None,
                })),
                _ => Some(Response::Ok),
            }
        }
    }

    /// One turn of a poll loop over the server alone.
    fn pump(server: &mut Server, handler: &mut Fake) {
        let ready: Vec<(Source, PollFlags)> = {
            let set = server.poll_set();
            let mut fds: Vec<PollFd> = set
                .iter()
                .map(|(_, fd, ev)| PollFd::new(*fd, *ev))
                .collect();
            poll(&mut fds, PollTimeout::from(100u16)).unwrap();
            set.iter()
                .zip(&fds)
                .filter_map(|((source, _, _), fd)| {
                    let events = fd.revents().unwrap_or(PollFlags::empty());
                    (!events.is_empty()).then_some((*source, events))
                })
                .collect()
        };
        for (source, events) in ready {
            server.service(source, events, handler);
        }
    }

    fn read_response(reader: &mut BufReader<UnixStream>) -> Response {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        decode(line.as_bytes()).unwrap()
    }

    fn setup() -> (tempfile::TempDir, Server, UnixStream, BufReader<UnixStream>) {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::bind(&dir.path().join("shim.sock")).unwrap();
        let client = UnixStream::connect(dir.path().join("shim.sock")).unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let reader = BufReader::new(client.try_clone().unwrap());
        (dir, server, client, reader)
    }

    #[test]
    fn requests_on_one_connection_are_answered_in_order() {
        let (_dir, mut server, mut client, mut reader) = setup();
        let mut fake = Fake::default();
        client.write_all(&encode(&Request::State)).unwrap();
        client.write_all(&encode(&Request::Start)).unwrap();
        for _ in 0..3 {
            pump(&mut server, &mut fake);
        }
        assert!(matches!(read_response(&mut reader), Response::State(s) if s.pid == 42));
        assert_eq!(read_response(&mut reader), Response::Ok);
    }

    #[test]
    fn parked_wait_holds_back_later_requests_until_answered() {
        let (_dir, mut server, mut client, mut reader) = setup();
        let mut fake = Fake::default();
        client.write_all(&encode(&Request::Wait)).unwrap();
        client.write_all(&encode(&Request::State)).unwrap();
        for _ in 0..3 {
            pump(&mut server, &mut fake);
        }
        assert_eq!(fake.parked.len(), 1);
        let exited = Response::Exited(ExitRecord {
            exit_code: 3,
            signal: None,
            exited_at_ns: 9,
            oom_killed: false,
            message: String::new(),
        });
        server.answer(fake.parked[0], &exited, &mut fake);
        assert_eq!(read_response(&mut reader), exited);
        assert!(matches!(read_response(&mut reader), Response::State(_)));
    }

    #[test]
    fn malformed_line_gets_an_error_and_the_connection_lives_on() {
        let (_dir, mut server, mut client, mut reader) = setup();
        let mut fake = Fake::default();
        client.write_all(b"{not json\n").unwrap();
        client.write_all(&encode(&Request::ReopenLog)).unwrap();
        for _ in 0..3 {
            pump(&mut server, &mut fake);
        }
        assert!(matches!(read_response(&mut reader), Response::Error { .. }));
        assert_eq!(read_response(&mut reader), Response::Ok);
    }

    #[test]
    fn closed_client_is_dropped() {
        let (_dir, mut server, client, reader) = setup();
        let mut fake = Fake::default();
        pump(&mut server, &mut fake);
        assert_eq!(server.connections(), 1);
        drop(client);
        drop(reader);
        for _ in 0..3 {
            pump(&mut server, &mut fake);
        }
        assert_eq!(server.connections(), 0);
    }

    #[test]
    fn socket_file_goes_with_the_server() {
        let (dir, server, _client, _reader) = setup();
        assert!(dir.path().join("shim.sock").exists());
        drop(server);
        assert!(!dir.path().join("shim.sock").exists());
    }

    #[test]
    fn second_server_on_a_live_socket_is_refused() {
        let (dir, _server, _client, _reader) = setup();
        assert!(Server::bind(&dir.path().join("shim.sock")).is_err());
    }
}
