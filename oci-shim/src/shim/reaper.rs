//! Reaping children and recording how the watched process ended.
//!
//! The shim is a child subreaper: the container init is re-parented to it
//! when the runtime's `create` exits, and so are any orphans of the container.
//! Every SIGCHLD reaps all exited children; only the watched pid's status
//! becomes the [`ExitRecord`], which is also written to `exit.json`.

use std::fs;
use std::path::Path;

use cradle_proto::shim::{EXIT_FILE, ExitRecord, encode};
use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::ShimError;

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

/// The record of a terminal wait status, `None` for stops and continues.
pub fn exit_record(status: WaitStatus, exited_at_ns: i64) -> Option<ExitRecord> {
    match status {
        WaitStatus::Exited(_, code) => Some(ExitRecord {
            exit_code: code,
            signal: None,
            exited_at_ns,
            // Filled in from the container's memory cgroup (see `oom`).
            oom_killed: false,
            // Filled in from the runtime's log (see `runtime_log`).
            message: String::new(),
        }),
        WaitStatus::Signaled(_, signal, _) => Some(ExitRecord {
            exit_code: 128 + signal as i32,
            signal: Some(signal as i32),
            exited_at_ns,
            oom_killed: false,
            message: String::new(),
        }),
        _ => None,
    }
}

/// Reap every exited child without blocking; the record of `watched` if it was among them.
pub fn reap(watched: Pid) -> Option<ExitRecord> {
    let mut found = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return found,
            Ok(status) => {
                if status.pid() == Some(watched)
                    && let Some(record) = exit_record(status, now_ns())
                {
                    found = Some(record);
                }
            }
            Err(Errno::EINTR) => continue,
            Err(error) => {
                crate::diag!("waitpid: {error}");
                return found;
            }
        }
    }
}

/// Write `exit.json` atomically (a temporary file renamed over it).
pub fn write_exit_file(state_dir: &Path, record: &ExitRecord) -> Result<(), ShimError> {
    let path = state_dir.join(EXIT_FILE);
    let temp = state_dir.join(format!(".{EXIT_FILE}.tmp"));
    let line = encode(record);
    fs::write(&temp, &line).map_err(ShimError::io(format!("writing {}", temp.display())))?;
    fs::rename(&temp, &path).map_err(|source| {
        let _ = fs::remove_file(&temp);
        ShimError::Io {
            what: format!("renaming to {}", path.display()),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    #[test]
    fn exit_status_is_the_exit_code() {
        let record = exit_record(WaitStatus::Exited(Pid::from_raw(5), 3), 7).unwrap();
        assert_eq!(record.exit_code, 3);
        assert_eq!(record.signal, None);
        assert_eq!(record.exited_at_ns, 7);
    }

    #[test]
    fn death_by_signal_is_128_plus_signal() {
        let status = WaitStatus::Signaled(Pid::from_raw(5), Signal::SIGKILL, false);
        let record = exit_record(status, 7).unwrap();
        assert_eq!(record.exit_code, 137);
        assert_eq!(record.signal, Some(9));
    }

    #[test]
    fn exit_file_is_a_decodable_record() {
        let dir = tempfile::tempdir().unwrap();
        let record = exit_record(WaitStatus::Exited(Pid::from_raw(5), 0), 1).unwrap();
        write_exit_file(dir.path(), &record).unwrap();
        let bytes = fs::read(dir.path().join(EXIT_FILE)).unwrap();
        assert_eq!(
            cradle_proto::shim::decode::<ExitRecord>(&bytes).unwrap(),
            record
        );
    }
}
