//! Terminal mode (`process.terminal` with `--console-socket`), as runc does
//! it: the container process opens a pty on the container's own devpts,
//! sends the master over the console socket (SCM_RIGHTS, with the pty's
//! name as payload) and makes the slave its stdio and controlling terminal.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};
use nix::sys::stat::Mode;

use crate::oci::error::{OciError, Result};

/// Connects to the caller's console socket (done by `create`/`exec` before
/// forking), whatever the length of its path.
pub(crate) fn connect(path: &Path) -> Result<UnixStream> {
    crate::sockpath::connect(path).map_err(|e| OciError::io("connect console socket", path, e))
}

/// Creates the pty, hands the master to the console socket, and makes the
/// slave this process's stdio and controlling terminal. The caller must
/// be a session leader (setsid) already.
pub(crate) fn setup(socket: &UnixStream, size: Option<(u16, u16)>) -> Result<()> {
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
    nix::unistd::dup2_stdin(slave.as_fd()).map_err(|e| OciError::sys("dup2 pty to stdin", e))?;
    nix::unistd::dup2_stdout(slave.as_fd()).map_err(|e| OciError::sys("dup2 pty to stdout", e))?;
    nix::unistd::dup2_stderr(slave.as_fd()).map_err(|e| OciError::sys("dup2 pty to stderr", e))?;
    // SAFETY: TIOCSCTTY on stdin (now the pty slave) with argument 0 takes
    // no pointer; the caller is a session leader without a terminal.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } != 0 {
        return Err(OciError::sys(
            "set controlling terminal",
            nix::Error::last(),
        ));
    }
    Ok(())
}
