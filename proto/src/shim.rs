//! The daemon ↔ shim protocol.
//!
//! Each shim listens on a Unix stream socket (`/run/cradle/shims/<id>/shim.sock`
//! by default). A client writes one [`Request`] as a single line of JSON and
//! reads one [`Response`] line back; a connection may carry several request /
//! response pairs in sequence. [`Request::Wait`] blocks until the container's
//! init process has exited, so the daemon keeps one connection per container
//! parked on it.
//!
//! The shim also records the exit in `<state-dir>/exit.json` (an [`ExitRecord`],
//! written atomically), so a daemon that restarts after the shim is gone still
//! learns how the container ended.

use serde::{Deserialize, Serialize};

/// File name of the shim's socket inside its state directory.
pub const SOCKET_FILE: &str = "shim.sock";
/// File name of the exit record inside the shim's state directory.
pub const EXIT_FILE: &str = "exit.json";
/// The exit status of a starting `cradle-shim` whose OCI runtime refused to
/// create the container (a missing executable, a bad working directory…):
/// the reason is on its stderr, and the container exists but fails at
/// StartContainer as `ContainerCannotRun`. Any other non-zero status is the
/// shim's own failure.
pub const EXIT_CREATE_REFUSED: i32 = 3;
/// File name holding the shim's own pid inside its state directory.
pub const SHIM_PID_FILE: &str = "shim.pid";
/// File name holding the container init (or pause) pid inside its state directory.
pub const INIT_PID_FILE: &str = "init.pid";
/// The OCI runtime's own log (its global `--log`), in the shim's directory:
/// the shim's runtime calls and the daemon's `exec`s write their warnings
/// there instead of into the container's or the exec session's output.
pub const RUNTIME_LOG_FILE: &str = "runtime.log";
/// File name of the attach socket inside a container shim's state directory:
/// a client connecting there receives the container's output from then on,
/// as frames made by [`attach_frame`], until the container exits (EOF).
pub const ATTACH_SOCKET_FILE: &str = "attach.sock";
/// Stream id of stdin in an attach frame, sent by a client to a shim started
/// with `--stdin`; an empty stdin frame means the client's stdin ended (with
/// `--stdin-once` the container's stdin is then closed).
pub const ATTACH_STDIN: u8 = 0;
/// Stream id of stdout in an attach frame.
pub const ATTACH_STDOUT: u8 = 1;
/// Stream id of stderr in an attach frame.
pub const ATTACH_STDERR: u8 = 2;
/// Stream id of a terminal resize in an attach frame, sent by a client to
/// the shim of a tty container: the payload is [`resize_payload`] (width,
/// then height, big-endian u16 each); the shim sets the pty's window size.
/// Shims older than this id drop a client that sends it, so the daemon sends
/// it only to tty containers (which those shims never served).
pub const ATTACH_RESIZE: u8 = 3;
/// File name of the console socket inside a tty container's shim state
/// directory: the OCI runtime's `create --console-socket` sends the pty
/// master there (SCM_RIGHTS); the shim removes it once it holds the master.
pub const CONSOLE_SOCKET_FILE: &str = "console.sock";
/// Length of an attach frame's header: stream id, then the payload length
/// as a big-endian u32.
pub const ATTACH_HEADER_LEN: usize = 5;

/// One attach frame: `[stream id][u32 BE length][payload]`.
pub fn attach_frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(ATTACH_HEADER_LEN + payload.len());
    frame.push(stream);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// The payload of an [`ATTACH_RESIZE`] frame.
pub fn resize_payload(width: u16, height: u16) -> [u8; 4] {
    let [w0, w1] = width.to_be_bytes();
    let [h0, h1] = height.to_be_bytes();
    [w0, w1, h0, h1]
}

/// Width and height of an [`ATTACH_RESIZE`] payload (`None` unless 4 bytes).
pub fn parse_resize(payload: &[u8]) -> Option<(u16, u16)> {
    match payload {
        [w0, w1, h0, h1] => Some((
            u16::from_be_bytes([*w0, *w1]),
            u16::from_be_bytes([*h0, *h1]),
        )),
        _ => None,
    }
}

/// A request from the daemon to a shim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Report the current [`ShimState`].
    State,
    /// Start the created container (`<runtime> start <id>`).
    Start,
    /// Send `signal` to the init process (`all`: to every process of the container).
    Kill {
        /// The signal number (`libc::SIGTERM`, ...).
        signal: i32,
        /// Signal every process of the container, not only its init.
        all: bool,
    },
    /// Block until the init process exits, then answer [`Response::Exited`].
    /// Answers at once if it has already exited.
    Wait,
    /// Reopen the log file (after the kubelet rotated it).
    ReopenLog,
    /// Delete the container from the OCI runtime (`<runtime> delete --force <id>`),
    /// answer, then exit the shim. The init must have exited, or `force` kills it first.
    Delete {
        /// Kill a still-running init before deleting, instead of refusing.
        force: bool,
    },
}

/// A shim's answer to one [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// The request was carried out and has nothing to report.
    Ok,
    /// The answer to [`Request::State`].
    State(ShimState),
    /// The answer to [`Request::Wait`]: how the init ended.
    Exited(ExitRecord),
    /// The request failed; the shim keeps serving.
    Error {
        /// What went wrong, for the daemon to pass on to its caller.
        message: String,
    },
}

/// Lifecycle of the process a shim watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessStatus {
    /// `create` succeeded; the init waits for `start`.
    Created,
    /// `start` succeeded and the init has not exited yet.
    Running,
    /// The init exited; its [`ExitRecord`] is known.
    Exited,
}

/// What a shim knows about its process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimState {
    /// Pid of the container init (or pause) process, in the host pid namespace.
    pub pid: u32,
    /// Where the process is in its lifecycle.
    pub status: ProcessStatus,
    /// Nanoseconds since the epoch at which `start` succeeded.
    pub started_at_ns: Option<i64>,
    /// How the process ended, once [`ProcessStatus::Exited`].
    pub exit: Option<ExitRecord>,
}

/// How the watched process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// The exit status, or 128 + signal number when killed by a signal (as a shell reports it).
    pub exit_code: i32,
    /// The signal that killed the process, if any.
    pub signal: Option<i32>,
    /// Nanoseconds since the epoch.
    pub exited_at_ns: i64,
    /// The kernel's OOM killer ended the process (cgroup `oom_kill` counter rose).
    pub oom_killed: bool,
    /// Why, when the runtime said so after the start (an execve refused,
    /// E2BIG for one); empty otherwise. Absent from older shims' records.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Errors of decoding a protocol line.
pub type DecodeError = serde_json::Error;

/// Encode a message as one protocol line (JSON followed by `\n`).
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // Serializing these plain enums and structs into memory cannot fail.
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Decode one protocol line (with or without its trailing newline).
pub fn decode<'a, T: Deserialize<'a>>(line: &'a [u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(line.strip_suffix(b"\n").unwrap_or(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_as_one_line() {
        let request = Request::Kill {
            signal: 15,
            all: false,
        };
        let line = encode(&request);
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        assert_eq!(decode::<Request>(&line).unwrap(), request);
    }

    #[test]
    fn resize_payload_round_trips_and_other_lengths_are_refused() {
        let frame = attach_frame(ATTACH_RESIZE, &resize_payload(91, 17));
        assert_eq!(frame[0], ATTACH_RESIZE);
        assert_eq!(parse_resize(&frame[ATTACH_HEADER_LEN..]), Some((91, 17)));
        assert_eq!(parse_resize(&[0, 1, 2]), None);
    }

    #[test]
    fn exited_response_round_trips() {
        let response = Response::Exited(ExitRecord {
            exit_code: 137,
            signal: Some(9),
            exited_at_ns: 1,
            oom_killed: false,
            message: String::new(),
        });
        assert_eq!(decode::<Response>(&encode(&response)).unwrap(), response);
    }
}
