//! This process's terminal for `exec -t`: raw mode as a guard, the window
//! size and its changes, and the signals that end a session.

use cradle_streaming::TerminalSize;
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use std::io::IsTerminal as _;
use std::os::fd::AsRawFd as _;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;

/// Raw mode on stdin's terminal (no echo, no line editing, no signals from
/// keys: Ctrl-C goes to the remote command); the saved settings come back
/// when this is dropped, so every way out (return, error, panic, a signal
/// ending the session) restores the terminal.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts stdin's terminal in raw mode.
    pub fn enter() -> nix::Result<Self> {
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        // TCSANOW: input typed before now stays to be sent.
        tcsetattr(&stdin, SetArg::TCSANOW, &raw)?;
        Ok(Self { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Err(e) = tcsetattr(std::io::stdin(), SetArg::TCSADRAIN, &self.saved) {
            tracing::warn!("restoring the terminal: {e}");
        }
    }
}

nix::ioctl_read_bad!(
    /// `TIOCGWINSZ`: a terminal's window size.
    tiocgwinsz,
    libc::TIOCGWINSZ,
    libc::winsize
);

/// The window size of the terminal on stdout, else on stdin; `None`
/// without a terminal (or with a 0×0 one).
pub fn window_size() -> Option<TerminalSize> {
    let stdout = std::io::stdout();
    let stdin = std::io::stdin();
    let fd = if stdout.is_terminal() {
        stdout.as_raw_fd()
    } else if stdin.is_terminal() {
        stdin.as_raw_fd()
    } else {
        return None;
    };
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `fd` is open for the call (stdin/stdout live as long as the
    // process) and `size` is a valid, writable winsize for TIOCGWINSZ.
    unsafe { tiocgwinsz(fd, &mut size) }.ok()?;
    (size.ws_row > 0 && size.ws_col > 0).then_some(TerminalSize {
        width: size.ws_col,
        height: size.ws_row,
    })
}

/// The window size now and after each SIGWINCH, for the resize channel.
pub struct SizeWatch {
    /// The sizes, the current one first (when there is a terminal).
    pub receiver: mpsc::Receiver<TerminalSize>,
    /// The task sending them; abort it when the session ends.
    pub task: tokio::task::JoinHandle<()>,
}

impl SizeWatch {
    /// Sends the current size and starts watching SIGWINCH.
    pub fn start() -> std::io::Result<Self> {
        let mut winch = signal(SignalKind::window_change())?;
        let (tx, receiver) = mpsc::channel(4);
        if let Some(size) = window_size() {
            let _ = tx.try_send(size);
        }
        let task = tokio::spawn(async move {
            while winch.recv().await.is_some() {
                if let Some(size) = window_size()
                    && tx.send(size).await.is_err()
                {
                    return;
                }
            }
        });
        Ok(Self { receiver, task })
    }
}

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT, caught so that the session ends
/// through its guards instead of killing the process in raw mode.
pub struct EndingSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
    quit: Signal,
}

impl EndingSignals {
    /// Installs the handlers.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            quit: signal(SignalKind::quit())?,
        })
    }

    /// The number of the first of them to arrive.
    pub async fn recv(&mut self) -> i32 {
        tokio::select! {
            _ = self.int.recv() => libc::SIGINT,
            _ = self.term.recv() => libc::SIGTERM,
            _ = self.hup.recv() => libc::SIGHUP,
            _ = self.quit.recv() => libc::SIGQUIT,
        }
    }
}
