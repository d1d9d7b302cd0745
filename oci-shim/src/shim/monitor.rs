//! The shim's event loop: one `poll(2)` over the signalfd, the protocol
//! server's sockets and the container's output pipes. Single-threaded; every
//! fd is non-blocking, so nothing but the runtime's own verbs waits.

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::ShimError;
use super::logger::Stream;
use super::requests::Shim;
use super::server::{Server, Source};
use super::signals::Signals;

/// What became ready in one turn of the loop.
#[derive(Debug, Clone, Copy)]
enum Ready {
    Signal,
    Server(Source, PollFlags),
    Pipe(Stream),
    Attach,
    AttachInput,
    StdinRoom,
}

/// A shim that is set up and ready: sockets, state and signals.
#[derive(Debug)]
pub struct Monitor {
    server: Server,
    shim: Shim,
    signals: Signals,
}

impl Monitor {
    /// A monitor serving `server` for `shim`, woken by `signals`.
    pub fn new(server: Server, shim: Shim, signals: Signals) -> Monitor {
        Monitor {
            server,
            shim,
            signals,
        }
    }

    /// Serve until a `Delete` has been carried out.
    pub fn run(mut self) -> Result<(), ShimError> {
        loop {
            if self.shim.shutting_down() {
                self.server.flush_all();
                crate::diag!("deleted; exiting");
                return Ok(());
            }
            for ready in self.wait()? {
                match ready {
                    Ready::Signal => {
                        if self.signals.drain() {
                            let answers = self.shim.on_child_exit();
                            // Before the exit is answered, as containerd
                            // deletes a task before it reports it exited:
                            // once the daemon sees EXITED the runtime's state
                            // and cgroup are gone, and a RemoveContainer that
                            // follows at once never waits behind the delete.
                            self.shim.release_runtime();
                            for (conn, response) in answers {
                                self.server.answer(conn, &response, &mut self.shim);
                            }
                        }
                    }
                    Ready::Server(source, events) => {
                        self.server.service(source, events, &mut self.shim)
                    }
                    Ready::Pipe(stream) => {
                        self.shim.pump_stdio(stream);
                    }
                    Ready::Attach => self.shim.accept_attach(),
                    Ready::AttachInput => self.shim.read_attached(),
                    Ready::StdinRoom => self.shim.flush_stdin(),
                }
            }
        }
    }

    /// Block in poll until something is ready.
    fn wait(&mut self) -> Result<Vec<Ready>, ShimError> {
        let mut sources = vec![Ready::Signal];
        let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
        let server_set = self.server.poll_set();
        for (source, fd, events) in &server_set {
            sources.push(Ready::Server(*source, PollFlags::empty()));
            fds.push(PollFd::new(*fd, *events));
        }
        if let Some(fd) = self.shim.attach_poll_fd() {
            sources.push(Ready::Attach);
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        let (clients, stdin) = self.shim.attach_input_fds();
        for fd in &clients {
            sources.push(Ready::AttachInput);
            fds.push(PollFd::new(*fd, PollFlags::POLLIN));
        }
        if let Some(fd) = stdin {
            sources.push(Ready::StdinRoom);
            fds.push(PollFd::new(fd, PollFlags::POLLOUT));
        }
        let pipes = self.shim.stdio_poll_set();
        for (stream, fd) in &pipes {
            sources.push(Ready::Pipe(*stream));
            fds.push(PollFd::new(*fd, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(error) => return Err(ShimError::sys("poll")(error)),
        }
        let ready = sources
            .into_iter()
            .zip(&fds)
            .filter_map(|(source, fd)| {
                let events = fd.revents().unwrap_or(PollFlags::empty());
                if events.is_empty() {
                    return None;
                }
                Some(match source {
                    Ready::Server(source, _) => Ready::Server(source, events),
                    other => other,
                })
            })
            .collect::<Vec<_>>();
        // Several clients may be ready: reading them all once is enough.
        let mut ready = ready;
        let mut seen = false;
        ready.retain(|r| !matches!(r, Ready::AttachInput) || !std::mem::replace(&mut seen, true));
        Ok(ready)
    }
}
