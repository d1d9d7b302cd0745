//! The terminal side of a tty exec: the OCI runtime creates the pty inside the
//! container and sends its master over a `--console-socket` (SCM_RIGHTS, as
//! runc and cradle-oci both do). This module receives that fd, drives it
//! non-blocking on tokio ([`PtyMaster`]) and applies terminal sizes to it.

use crate::request::TerminalSize;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Waits on `stream` (the runtime's connection to the console socket) for
/// the message carrying the pty master.
pub async fn receive_master(stream: &tokio::net::UnixStream) -> std::io::Result<OwnedFd> {
    loop {
        stream.readable().await?;
        match stream.try_io(tokio::io::Interest::READABLE, || {
            recv_fd(stream.as_raw_fd())
        }) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

fn recv_fd(socket: RawFd) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut name = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket,
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    let mut received = None;
    for cmsg in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            for fd in fds {
                // SAFETY: the kernel just installed `fd` in our table for this
                // message; nobody else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                received.get_or_insert(owned);
            }
        }
    }
    if msg.bytes == 0 && received.is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "console socket closed without a pty master",
        ));
    }
    received.ok_or_else(|| std::io::Error::other("console socket message carried no fd"))
}

/// Sets the terminal size of the pty behind `fd`.
pub fn resize(fd: &impl AsFd, size: TerminalSize) -> std::io::Result<()> {
    let ws = libc::winsize {
        ws_row: size.height,
        ws_col: size.width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which lives for
    // the call; the fd is borrowed and open.
    let rc = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A pty master as a non-blocking tokio stream. Reading ends (EOF) when the
/// last slave closes (the kernel answers EIO then).
pub struct PtyMaster {
    fd: AsyncFd<OwnedFd>,
}

impl PtyMaster {
    /// Drives `fd` (a pty master) non-blocking on the current tokio runtime.
    pub fn new(fd: OwnedFd) -> std::io::Result<Self> {
        let flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL)?;
        let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(flags))?;
        register(fd)
    }

    /// A second handle on the same master (for resizes while both directions pump).
    pub fn try_clone(&self) -> std::io::Result<Self> {
        register(self.fd.get_ref().try_clone()?)
    }

    /// Sets the terminal size.
    pub fn resize(&self, size: TerminalSize) -> std::io::Result<()> {
        resize(self.fd.get_ref(), size)
    }
}

fn register(fd: OwnedFd) -> std::io::Result<PtyMaster> {
    // SAFETY: an `OwnedFd` is open until dropped and always returns the same
    // fd; the `AsyncFd` owns it, so it stays open for the registration's life.
    let fd = unsafe { AsyncFd::register(fd) }.map_err(std::io::Error::from)?;
    Ok(PtyMaster { fd })
}

impl AsyncRead for PtyMaster {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| {
                nix::unistd::read(fd.get_ref(), unfilled).map_err(std::io::Error::from)
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // EIO: every slave is closed, the terminal's output is over.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PtyMaster {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| {
                nix::sys::uio::writev(fd.get_ref(), &[IoSlice::new(data)])
                    .map_err(std::io::Error::from)
            }) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A pty pair from the host, to test the master side without a runtime.
    fn openpty() -> (OwnedFd, OwnedFd) {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        (pty.master, pty.slave)
    }

    #[tokio::test]
    async fn master_passes_bytes_and_ends_with_eof_when_the_slave_closes() {
        let (master, slave) = openpty();
        let mut master = PtyMaster::new(master).unwrap();
        let mut slave = std::fs::File::from(slave);
        std::io::Write::write_all(&mut slave, b"hello").unwrap();
        drop(slave);
        let mut out = Vec::new();
        master.read_to_end(&mut out).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "hello");
    }

    #[tokio::test]
    async fn resize_sets_the_slave_size_and_writes_reach_the_slave() {
        let (master, slave) = openpty();
        let mut master = PtyMaster::new(master).unwrap();
        master
            .try_clone()
            .unwrap()
            .resize(TerminalSize {
                width: 91,
                height: 17,
            })
            .unwrap();
        let ws = nix::libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let mut ws = ws;
        // SAFETY: test: TIOCGWINSZ writes one winsize into `ws`.
        let rc = unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
        assert_eq!(rc, 0);
        assert_eq!((ws.ws_col, ws.ws_row), (91, 17));
        master.write_all(b"x\n").await.unwrap();
        let mut buf = [0u8; 8];
        let n = nix::unistd::read(&slave, &mut buf).unwrap();
        assert!(n >= 1 && buf[0] == b'x');
    }

    #[tokio::test]
    async fn receive_master_takes_the_fd_sent_over_the_socket() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (master, _slave) = openpty();
        let fds = [master.as_raw_fd()];
        nix::sys::socket::sendmsg::<()>(
            a.as_raw_fd(),
            &[IoSlice::new(b"/dev/ptmx")],
            &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
            nix::sys::socket::MsgFlags::empty(),
            None,
        )
        .unwrap();
        b.set_nonblocking(true).unwrap();
        let b = tokio::net::UnixStream::from_std(b).unwrap();
        let got = receive_master(&b).await.unwrap();
        assert!(nix::unistd::isatty(&got).unwrap());
    }
}
