//! Terminal mode (`process.terminal` with `--console-socket`), as runc does
//! it: the container process opens a pty on the container's own devpts,
//! sends the master over the console socket (SCM_RIGHTS, with the pty's
//! name as payload) and makes the slave its stdio and controlling terminal
//! (those last calls, which change the process, through the [`Syscall`] seam).

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};
use nix::sys::stat::Mode;

use crate::oci::error::{OciError, Result};
use crate::oci::syscall::Syscall;

/// Connects to the caller's console socket (done by `create`/`exec` before
/// forking), whatever the length of its path.
pub(crate) fn connect(path: &Path) -> Result<UnixStream> {
    crate::sockpath::connect(path).map_err(|e| OciError::io("connect console socket", path, e))
}

/// Creates the pty, hands the master to the console socket, and makes the
/// slave this process's stdio and controlling terminal. The caller must
/// be a session leader (setsid) already.
pub(crate) fn setup(
    sys: &impl Syscall,
    socket: &UnixStream,
    size: Option<(u16, u16)>,
) -> Result<()> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| OciError::sys("open /dev/ptmx", e))?;
    grantpt(&master).map_err(|e| OciError::sys("grantpt", e))?;
    unlockpt(&master).map_err(|e| OciError::sys("unlockpt", e))?;
    let name = ptsname_r(&master).map_err(|e| OciError::sys("ptsname", e))?;
    let slave = open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| OciError::sys(format!("open {name}"), e))?;
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize struct that lives across the call.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(OciError::sys("set console size", nix::Error::last()));
        }
    }
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<UnixAddr>(socket.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(|e| OciError::sys("send pty master to console socket", e))?;
    drop(master);
    sys.dup2(slave.as_fd(), libc::STDIN_FILENO)
        .map_err(|e| OciError::sys("dup2 pty to stdin", e))?;
    sys.dup2(slave.as_fd(), libc::STDOUT_FILENO)
        .map_err(|e| OciError::sys("dup2 pty to stdout", e))?;
    sys.dup2(slave.as_fd(), libc::STDERR_FILENO)
        .map_err(|e| OciError::sys("dup2 pty to stderr", e))?;
    // Stdin is now the pty slave; the caller is a session leader without
    // a terminal.
    sys.set_controlling_terminal(libc::STDIN_FILENO)
        .map_err(|e| OciError::sys("set controlling terminal", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::IoSliceMut;
    use std::os::fd::RawFd;

    use nix::sys::socket::{ControlMessageOwned, recvmsg};

    use super::*;
    use crate::oci::syscall::{Call, Recorder};

    /// The pty name and the number of descriptors received on `sock`.
    fn receive_master(sock: &UnixStream) -> (String, usize) {
        let mut name = [0u8; 128];
        let mut iov = [IoSliceMut::new(&mut name)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<UnixAddr>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .unwrap();
        let mut fds = Vec::new();
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(got) = c {
                fds.extend(got);
            }
        }
        let len = msg.bytes;
        for fd in &fds {
            nix::unistd::close(*fd).unwrap();
        }
        (
            String::from_utf8_lossy(&name[..len]).into_owned(),
            fds.len(),
        )
    }

    #[test]
    fn a_terminal_process_sends_the_master_then_takes_the_slave_as_stdio_and_tty() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let sys = Recorder::new(Path::new("/"));
        let host_has_ptys = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY).is_ok();
        let result = setup(&sys, &theirs, Some((24, 80)));
        if !host_has_ptys {
            // No /dev/ptmx here: refused before any change to the process.
            let e = result.unwrap_err().to_string();
            assert!(e.contains("open /dev/ptmx"), "{e}");
            assert!(sys.log().is_empty());
            return;
        }
        result.unwrap();
        let (name, fds) = receive_master(&ours);
        assert!(name.starts_with("/dev/pts/"), "{name}");
        assert_eq!(fds, 1);
        assert_eq!(
            sys.log(),
            [
                Call::Dup2(0),
                Call::Dup2(1),
                Call::Dup2(2),
                Call::SetControllingTerminal(0),
            ]
        );
    }

    #[test]
    fn a_refused_controlling_terminal_fails_the_set_up() {
        let (_ours, theirs) = UnixStream::pair().unwrap();
        let sys = Recorder::new(Path::new("/"));
        sys.fail("set_controlling_terminal", nix::Error::EPERM);
        let host_has_ptys = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY).is_ok();
        let e = setup(&sys, &theirs, None).unwrap_err().to_string();
        let expected = if host_has_ptys {
            "set controlling terminal"
        } else {
            "open /dev/ptmx"
        };
        assert!(e.contains(expected), "{e}");
    }
}
