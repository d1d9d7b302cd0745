//! The channel that carries the [`Msg`]s of the sync protocol between
//! `create` (or `exec`) and its children: a socketpair, one line per
//! message.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

use crate::oci::error::{OciError, Result};
use crate::oci::process::message::Msg;

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
