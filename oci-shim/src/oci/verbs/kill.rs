//! `cradle-oci kill`: send a signal to the init, or with `--all` to every
//! process of the container's cgroup.

use std::path::Path;

use nix::sys::signal::{Signal, kill as kill2};
use nix::unistd::Pid;

use crate::cgroups::Cgroup;
use crate::oci::error::{OciError, Result};
use crate::oci::state::{ContainerState, Status};

/// Parses `TERM`, `SIGTERM`, `sigterm` or `15`.
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| OciError::InvalidSignal(s.to_string()));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map_err(|_| OciError::InvalidSignal(s.to_string()))
}

/// Sends `signal` to the container. As runc: `--all` still signals what
/// is left in the cgroup of a stopped container (processes that outlived a
/// host-pid-namespace init) and is a no-op once the cgroup is gone (no processes); without
/// `--all`, a stopped container is [`OciError::NotRunning`].
pub fn kill(root: &Path, id: &str, signal: Signal, all: bool) -> Result<()> {
    let st = ContainerState::load(root, id)?;
    let stopped = st.status(root)? == Status::Stopped;
    if stopped && !all {
        return Err(OciError::NotRunning(id.to_string()));
    }
    if all {
        let cg = Cgroup::new(&st.cgroup_path)?;
        for pid in cg.processes()? {
            match kill2(Pid::from_raw(pid), signal) {
                Ok(()) | Err(nix::Error::ESRCH) => {}
                Err(e) => return Err(OciError::sys(format!("kill {pid}"), e)),
            }
        }
        return Ok(());
    }
    kill2(Pid::from_raw(st.pid), signal).map_err(|e| OciError::sys(format!("kill {}", st.pid), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_prefix_and_number() {
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("SIGKILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("hup").unwrap(), Signal::SIGHUP);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
