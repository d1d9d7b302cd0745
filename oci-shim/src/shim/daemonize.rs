//! Detaching from the daemon, with a readiness pipe.
//!
//! `cradled` spawns `cradle-shim` and waits for it to exit: exit 0 means the
//! shim is ready (socket listening, container created or pause running), any
//! other status means it failed and left nothing behind, with the reason on
//! stderr. The spawned process forks; the child detaches (new session, child
//! subreaper, stdio to `/dev/null`, diagnostics to `shim.log`) and does the
//! work; the parent only relays the child's verdict read from a pipe.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::prctl;
use nix::unistd::{self, ForkResult};

use super::ShimError;

/// File name of the shim's diagnostics inside its state directory.
pub const LOG_FILE: &str = "shim.log";

const READY: &[u8] = b"ok";
/// Prefix of the verdict of a shim whose runtime refused the container.
const REFUSED: &[u8] = b"refused: ";

/// Which side of the fork this is.
pub enum Forked {
    /// The spawned process: relay the verdict and exit with this status.
    Parent {
        /// The exit status the shim would have.
        status: i32,
        /// What it said on failure, if anything.
        message: Option<String>,
    },
    /// The detached shim: do the work, then report through [`Readiness`].
    Child(Readiness),
}

/// The child's end of the readiness pipe.
#[derive(Debug)]
pub struct Readiness {
    pipe: File,
}

impl Readiness {
    /// Tell the waiting parent that the shim is ready.
    pub fn ready(mut self) {
        // If the parent is gone there is nobody left to tell.
        let _ = self.pipe.write_all(READY);
    }

    /// Tell the waiting parent why the shim failed.
    pub fn failed(mut self, message: &str) {
        let _ = self.pipe.write_all(format!("error: {message}").as_bytes());
    }

    /// Tell the waiting parent that the OCI runtime refused the container
    /// (it exits with [`cradle_proto::shim::EXIT_CREATE_REFUSED`]).
    pub fn refused(mut self, message: &str) {
        let mut verdict = REFUSED.to_vec();
        verdict.extend_from_slice(message.as_bytes());
        let _ = self.pipe.write_all(&verdict);
    }
}

/// Fork; detach the child into its own session as a child subreaper with its
/// stdio redirected; leave the parent waiting for the child's verdict.
pub fn daemonize(state_dir: &Path) -> Result<Forked, ShimError> {
    let (read_end, write_end) =
        unistd::pipe2(OFlag::O_CLOEXEC).map_err(ShimError::sys("creating readiness pipe"))?;
    // SAFETY: the shim is single-threaded when it forks (nothing has spawned a
    // thread yet), so the child may keep running ordinary Rust code.
    match unsafe { unistd::fork() }.map_err(ShimError::sys("forking the shim"))? {
        ForkResult::Parent { .. } => {
            drop(write_end);
            Ok(wait_for_verdict(read_end))
        }
        ForkResult::Child => {
            drop(read_end);
            detach(state_dir)?;
            Ok(Forked::Child(Readiness {
                pipe: File::from(write_end),
            }))
        }
    }
}

fn wait_for_verdict(read_end: OwnedFd) -> Forked {
    let mut verdict = Vec::new();
    let mut pipe = File::from(read_end);
    if let Err(error) = pipe.read_to_end(&mut verdict) {
        return Forked::Parent {
            status: 1,
            message: Some(format!("reading the shim's readiness pipe: {error}")),
        };
    }
    if verdict == READY {
        return Forked::Parent {
            status: 0,
            message: None,
        };
    }
    if let Some(message) = verdict.strip_prefix(REFUSED) {
        return Forked::Parent {
            status: cradle_proto::shim::EXIT_CREATE_REFUSED,
            message: Some(String::from_utf8_lossy(message).into_owned()),
        };
    }
    let message = if verdict.is_empty() {
        "the shim exited before it was ready (see shim.log in its state directory)".to_string()
    } else {
        String::from_utf8_lossy(&verdict).into_owned()
    };
    Forked::Parent {
        status: 1,
        message: Some(message),
    }
}

/// New session, child subreaper, stdin/stdout to `/dev/null`, stderr to `shim.log`.
fn detach(state_dir: &Path) -> Result<(), ShimError> {
    unistd::setsid().map_err(ShimError::sys("setsid"))?;
    // Hold no mount busy through the daemon's working directory.
    unistd::chdir("/").map_err(ShimError::sys("chdir /"))?;
    prctl::set_child_subreaper(true).map_err(ShimError::sys("becoming a child subreaper"))?;
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(ShimError::io("opening /dev/null"))?;
    let log_path = state_dir.join(LOG_FILE);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(ShimError::io(format!("opening {}", log_path.display())))?;
    unistd::dup2_stdin(&null).map_err(ShimError::sys("redirecting stdin"))?;
    unistd::dup2_stdout(&null).map_err(ShimError::sys("redirecting stdout"))?;
    unistd::dup2_stderr(&log).map_err(ShimError::sys("redirecting stderr"))?;
    Ok(())
}

/// Write a timestamped diagnostic line to the shim's stderr (`shim.log` once detached).
pub fn diag(message: std::fmt::Arguments<'_>) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let _ = writeln!(std::io::stderr(), "{now} {message}");
}

/// `diag!("...", args)`: a line in `shim.log`.
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => { $crate::shim::daemonize::diag(format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict_of(bytes: &[u8]) -> (i32, Option<String>) {
        let (read_end, write_end) = unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
        File::from(write_end).write_all(bytes).expect("write");
        match wait_for_verdict(read_end) {
            Forked::Parent { status, message } => (status, message),
            Forked::Child(_) => unreachable!("the verdict is always the parent's"),
        }
    }

    #[test]
    fn a_runtime_refusal_has_its_own_exit_status() {
        assert_eq!(verdict_of(READY), (0, None));
        let (status, message) = verdict_of(b"refused: runc create c1 failed: no such file");
        assert_eq!(status, cradle_proto::shim::EXIT_CREATE_REFUSED);
        assert_eq!(
            message.as_deref(),
            Some("runc create c1 failed: no such file")
        );
        let (status, message) = verdict_of(b"error: opening the log: EACCES");
        assert_eq!(status, 1);
        assert!(message.is_some_and(|m| m.contains("EACCES")));
        assert_eq!(verdict_of(b"").0, 1);
    }
}
