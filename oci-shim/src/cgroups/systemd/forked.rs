//! [`Bus`] calls made in a child process. zbus starts threads (its
//! executor, async-io's reactor) that would stay in `cradle-oci` for the
//! rest of its life; `run` blocks signals to forward them, which a thread
//! started earlier would not have blocked, and the launcher's forks rely
//! on it being single-threaded. So each call forks, talks to systemd in
//! the child and sends the answer back through a pipe.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork, pipe2};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cgroups::systemd::bus::{Bus, BusError};
use crate::cgroups::systemd::host::BusAddress;
use crate::cgroups::systemd::properties::Property;
use crate::cgroups::systemd::zbus_bus::ZbusBus;

/// systemd's manager, each call from a fresh child process.
#[derive(Debug, Clone)]
pub struct Forked {
    address: BusAddress,
}

impl Forked {
    /// Calls go to `address`.
    pub fn new(address: BusAddress) -> Self {
        Forked { address }
    }

    /// Runs `call` on a [`ZbusBus`] in a child and returns its answer.
    fn run<T, F>(&self, call: F) -> Result<T, BusError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(&ZbusBus) -> Result<T, BusError>,
    {
        let sys = |what: &str, e: nix::Error| BusError::Other(format!("{what}: {e}"));
        let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).map_err(|e| sys("pipe", e))?;
        // SAFETY: the launcher is single-threaded whenever it reaches
        // systemd (that is this module's reason to be), so the child is a
        // complete copy; it only talks D-Bus, writes the pipe and _exits.
        match unsafe { fork() }.map_err(|e| sys("fork", e))? {
            ForkResult::Child => {
                drop(read_end);
                let answer = ZbusBus::connect(&self.address).and_then(|bus| call(&bus));
                let code = i32::from(send(write_end, &answer).is_err());
                // SAFETY: _exit ends the child without running the
                // parent's destructors or flushing its buffers twice.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                drop(write_end);
                let mut buf = Vec::new();
                let read = std::fs::File::from(read_end).read_to_end(&mut buf);
                let _ = waitpid(child, None);
                read.map_err(|e| BusError::Other(format!("read the D-Bus child's answer: {e}")))?;
                serde_json::from_slice::<Result<T, BusError>>(&buf)
                    .map_err(|e| BusError::Other(format!("the D-Bus child gave no answer ({e})")))?
            }
        }
    }
}

fn send<T: Serialize>(fd: OwnedFd, answer: &Result<T, BusError>) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(answer)?;
    std::fs::File::from(fd).write_all(&bytes)
}

impl Bus for Forked {
    fn start_transient_unit(&self, name: &str, props: &[Property]) -> Result<String, BusError> {
        self.run(|b| b.start_transient_unit(name, props))
    }

    fn set_unit_properties(&self, name: &str, props: &[Property]) -> Result<(), BusError> {
        self.run(|b| b.set_unit_properties(name, props))
    }

    fn stop_unit(&self, name: &str) -> Result<String, BusError> {
        self.run(|b| b.stop_unit(name))
    }

    fn reset_failed_unit(&self, name: &str) -> Result<(), BusError> {
        self.run(|b| b.reset_failed_unit(name))
    }
}
