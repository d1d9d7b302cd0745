//! The terminal of a tty container (`process.terminal` in its OCI spec).
//!
//! The OCI runtime creates the pty inside the container and sends its master
//! over the console socket given to `create --console-socket` (SCM_RIGHTS;
//! runc and cradle-oci both do). [`ConsoleSocket`] is that socket: bound
//! before `create`, it takes the master after, and its file goes with it.
//! [`Console`] holds the master for the container's whole life (closing it
//! would hang up the container's terminal): its output is read through a
//! duplicate ([`Console::reader`]), attach clients' input is written through
//! another ([`Console::writer`]), and resizes set its window size.

use std::fs;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

use super::ShimError;

/// How long the runtime has, after `create` returned, to have sent the master.
pub const RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// True when the bundle's `config.json` asks for a terminal (`process.terminal`).
/// A bundle without one is the runtime's to refuse (its `create` error is the
/// one the caller reports), so that reads as "no terminal".
pub fn terminal_requested(bundle: &Path) -> Result<bool, ShimError> {
    let path = bundle.join("config.json");
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(ShimError::io(format!("reading {}", path.display()))(error)),
    };
    let spec: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| ShimError::Invalid(format!("{} is not JSON: {e}", path.display())))?;
    match spec.pointer("/process/terminal") {
        None | Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::Bool(on)) => Ok(*on),
        Some(other) => Err(ShimError::Invalid(format!(
            "{}: process.terminal is {other}, not a boolean",
            path.display()
        ))),
    }
}

/// The socket the runtime sends the pty master to. Dropping it removes the file.
#[derive(Debug)]
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
    /// How the runtime reaches it; holds the directory open when the path
    /// is too long for `sun_path` (see [`crate::sockpath`]).
    _short: crate::sockpath::ShortPath,
    for_runtime: PathBuf,
}

impl ConsoleSocket {
    /// Binds `path` (a stale file from a dead shim is replaced).
    pub fn bind(path: &Path) -> Result<ConsoleSocket, ShimError> {
        if path.exists() {
            fs::remove_file(path)
                .map_err(ShimError::io(format!("removing stale {}", path.display())))?;
        }
        let short = crate::sockpath::ShortPath::new(path).map_err(ShimError::io(format!(
            "opening the directory of {}",
            path.display()
        )))?;
        let listener = UnixListener::bind(short.as_path())
            .map_err(ShimError::io(format!("binding {}", path.display())))?;
        Ok(ConsoleSocket {
            listener,
            path: path.to_path_buf(),
            for_runtime: short.for_others(),
            _short: short,
        })
    }

    /// The socket's path for `--console-socket`: its own when short
    /// enough, else one through this shim's `/proc/<pid>/fd`, short
    /// whatever the state dir's length.
    pub fn runtime_path(&self) -> &Path {
        &self.for_runtime
    }

    /// Takes the master the runtime sent (it connected and sent during
    /// `create`; the kernel kept both until now), waiting at most `timeout`.
    pub fn receive(&self, timeout: Duration) -> Result<OwnedFd, ShimError> {
        let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::from(millis))
            .map_err(ShimError::sys("waiting on the console socket"))?;
        if ready == 0 {
            return Err(ShimError::Invalid(format!(
                "the runtime sent no terminal to {} within {timeout:?}",
                self.path.display()
            )));
        }
        let (stream, _) = self
            .listener
            .accept()
            .map_err(ShimError::io("accepting on the console socket"))?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(ShimError::io("setting the console socket's timeout"))?;
        receive_fd(stream.as_raw_fd())
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// One message with one fd (the payload is the pty's name, unused).
fn receive_fd(socket: RawFd) -> Result<OwnedFd, ShimError> {
    let mut name = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket,
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(ShimError::sys("receiving the terminal"))?;
    let mut received = None;
    let cmsgs = msg
        .cmsgs()
        .map_err(ShimError::sys("reading the terminal message"))?;
    for cmsg in cmsgs {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            for fd in fds {
                // SAFETY: the kernel just installed `fd` in our table for this
                // message; nothing else owns it. Extra fds are owned and closed.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                received.get_or_insert(owned);
            }
        }
    }
    received.ok_or_else(|| {
        ShimError::Invalid("the console socket's message carried no terminal fd".into())
    })
}

/// The pty master of a tty container.
#[derive(Debug)]
pub struct Console {
    master: OwnedFd,
}

impl Console {
    /// Takes the master, switching it (and so every duplicate) to non-blocking.
    pub fn new(master: OwnedFd) -> Result<Console, ShimError> {
        let flags = fcntl(&master, FcntlArg::F_GETFL)
            .map_err(ShimError::sys("reading the terminal's flags"))?;
        fcntl(
            &master,
            FcntlArg::F_SETFL(OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK),
        )
        .map_err(ShimError::sys("making the terminal non-blocking"))?;
        Ok(Console { master })
    }

    /// A duplicate to read the container's output from (EIO once every
    /// slave is closed: the container's terminal output is over).
    pub fn reader(&self) -> Result<OwnedFd, ShimError> {
        self.master
            .try_clone()
            .map_err(ShimError::io("duplicating the terminal"))
    }

    /// A duplicate to write the container's input to.
    pub fn writer(&self) -> Result<OwnedFd, ShimError> {
        self.reader()
    }

    /// Sets the terminal's window size (the container sees SIGWINCH).
    pub fn resize(&self, width: u16, height: u16) -> Result<(), ShimError> {
        let size = libc::winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which lives
        // for the call; the fd is owned by `self` and open.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        if rc < 0 {
            return Err(ShimError::sys("setting the terminal size")(
                nix::Error::last(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::IoSlice;
    use std::os::unix::net::UnixStream;

    #[test]
    fn terminal_flag_is_read_from_the_bundle_and_a_non_boolean_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        fs::write(&config, r#"{"process":{"terminal":true}}"#).unwrap();
        assert!(terminal_requested(dir.path()).unwrap());
        fs::write(&config, r#"{"process":{"args":["sh"]}}"#).unwrap();
        assert!(!terminal_requested(dir.path()).unwrap());
        fs::write(&config, r#"{"process":{"terminal":"yes"}}"#).unwrap();
        assert!(terminal_requested(dir.path()).is_err());
    }

    #[test]
    fn the_master_sent_before_accept_is_received_resized_and_the_file_goes_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.sock");
        let socket = ConsoleSocket::bind(&path).unwrap();
        let pty = nix::pty::openpty(None, None).unwrap();
        // As the runtime does: connect, send, hang up, all before we accept.
        let sender = UnixStream::connect(&path).unwrap();
        let fds = [pty.master.as_raw_fd()];
        nix::sys::socket::sendmsg::<()>(
            sender.as_raw_fd(),
            &[IoSlice::new(b"/dev/pts/9")],
            &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        drop(sender);
        drop(pty.master);
        let console = Console::new(socket.receive(Duration::from_secs(2)).unwrap()).unwrap();
        console.resize(91, 17).unwrap();
        let mut size = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: test: TIOCGWINSZ writes one winsize into `size`.
        let rc = unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
        assert_eq!(rc, 0);
        assert_eq!((size.ws_col, size.ws_row), (91, 17));
        drop(socket);
        assert!(!path.exists());
    }

    #[test]
    fn nothing_sent_is_an_error_after_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let socket = ConsoleSocket::bind(&dir.path().join("console.sock")).unwrap();
        let error = socket.receive(Duration::from_millis(50)).unwrap_err();
        assert!(error.to_string().contains("no terminal"), "{error}");
    }
}
