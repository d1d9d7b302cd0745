//! The channel between `create` and its children: one line per message
//! over a socketpair. The intermediate sends `pid <n>`; `create` sends
//! `go` once the init is in its cgroup; the init answers `ready` or
//! `error <message>`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

use crate::oci::error::{OciError, Result};

/// A message on the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Msg {
    /// Host pid of the init (intermediate → create).
    Pid(i32),
    /// The init may continue (create → init).
    Go,
    /// The init is set up and waits on the exec FIFO (init → create).
    Ready,
    /// Setup failed (intermediate or init → create).
    Error(String),
    /// A warning for `create` to log (init → create).
    Warn(String),
    /// Mounts are done: run the prestart and createRuntime hooks, then
    /// answer `go` (init → create).
    Hooks,
    /// New user/time namespaces are unshared: write their maps and
    /// offsets, then answer `go` (intermediate → create).
    Maps,
    /// The OCI state JSON for the init's own hooks, sent before the first
    /// `go` when the spec has hooks (create → init).
    State(String),
}

impl Msg {
    fn encode(&self) -> String {
        match self {
            Msg::Pid(p) => format!("pid {p}\n"),
            Msg::Go => "go\n".into(),
            Msg::Ready => "ready\n".into(),
            Msg::Error(e) => format!("error {}\n", e.replace('\n', " ")),
            Msg::Warn(e) => format!("warn {}\n", e.replace('\n', " ")),
            Msg::Hooks => "hooks\n".into(),
            Msg::Maps => "maps\n".into(),
            Msg::State(json) => format!("state {}\n", json.replace('\n', " ")),
        }
    }

    fn decode(line: &str) -> Option<Msg> {
        let line = line.trim_end_matches('\n');
        let (head, rest) = line.split_once(' ').unwrap_or((line, ""));
        match head {
            "pid" => rest.parse().ok().map(Msg::Pid),
            "go" => Some(Msg::Go),
            "ready" => Some(Msg::Ready),
            "error" => Some(Msg::Error(rest.to_string())),
            "warn" => Some(Msg::Warn(rest.to_string())),
            "hooks" => Some(Msg::Hooks),
            "maps" => Some(Msg::Maps),
            "state" => Some(Msg::State(rest.to_string())),
            _ => None,
        }
    }
}

/// One end of the channel.
pub(crate) struct Channel {
    reader: BufReader<UnixStream>,
}

impl Channel {
    /// A connected pair (both ends close on exec).
    pub(crate) fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = UnixStream::pair().map_err(|e| OciError::io("socketpair", "", e))?;
        Ok((Channel::new(a), Channel::new(b)))
    }

    fn new(s: UnixStream) -> Channel {
        Channel {
            reader: BufReader::new(s),
        }
    }

    /// Sends one message.
    pub(crate) fn send(&mut self, msg: &Msg) -> Result<()> {
        self.reader
            .get_mut()
            .write_all(msg.encode().as_bytes())
            .map_err(|e| OciError::io("send on sync socket", "", e))
    }

    /// Receives one message; end of stream means the peer died.
    pub(crate) fn recv(&mut self) -> Result<Msg> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| OciError::io("receive on sync socket", "", e))?;
        if n == 0 {
            return Err(OciError::Init(
                "the container process exited before reporting".into(),
            ));
        }
        Msg::decode(&line).ok_or_else(|| OciError::Init(format!("bad sync message {line:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_errors_stay_on_one_line() {
        let (mut a, mut b) = Channel::pair().unwrap();
        a.send(&Msg::Pid(42)).unwrap();
        a.send(&Msg::Error("bad\nthing".into())).unwrap();
        a.send(&Msg::Ready).unwrap();
        a.send(&Msg::State("{\"id\":\"x y\"}".into())).unwrap();
        a.send(&Msg::Hooks).unwrap();
        assert_eq!(b.recv().unwrap(), Msg::Pid(42));
        assert_eq!(b.recv().unwrap(), Msg::Error("bad thing".into()));
        assert_eq!(b.recv().unwrap(), Msg::Ready);
        assert_eq!(b.recv().unwrap(), Msg::State("{\"id\":\"x y\"}".into()));
        assert_eq!(b.recv().unwrap(), Msg::Hooks);
        drop(a);
        assert!(b.recv().is_err());
    }
}
