//! The container's on-disk record (`<root>/<id>/state.json`) and the
//! status derived from it: `created` while the exec FIFO exists and the
//! init lives, `running` while it lives, `stopped` otherwise. Liveness
//! compares the init's start time with the recorded one, so a reused pid
//! does not look like our container.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::oci::error::{OciError, Result};
use crate::spec::{Hook, LinuxDeviceCgroup};

/// File name of the state record inside the container's directory.
pub const STATE_FILE: &str = "state.json";
/// File name of the exec FIFO inside the container's directory.
pub const FIFO_FILE: &str = "exec.fifo";

/// What `create` records for the other verbs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    /// The container id.
    pub id: String,
    /// Host pid of the container's init.
    pub pid: i32,
    /// Start time of the init in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub init_start_time: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// The cgroup path the init was placed in.
    pub cgroup_path: String,
    /// The spec's annotations.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The device rules in force, in order: on cgroup v2 they are one eBPF
    /// program, which an `update` with more rules must replace whole.
    #[serde(default)]
    pub device_rules: Vec<LinuxDeviceCgroup>,
    /// RFC 3339 creation time.
    pub created: String,
    /// `create --no-new-keyring`: the init kept the caller's session
    /// keyring, so `exec` does not join the container's.
    #[serde(default)]
    pub no_new_keyring: bool,
    /// The poststart hooks as config.json had them at create: `start`
    /// must not re-read the bundle (the spec: later changes to config.json
    /// do not affect the container).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<Hook>,
    /// The poststop hooks as config.json had them at create, for `delete`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<Hook>,
    /// The rootfs, when the container has no mount namespace of its own:
    /// its mounts were made in the runtime's, and `delete` detaches them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_mounts_under: Option<PathBuf>,
    /// The systemd scope unit owning the cgroup (`--systemd-cgroup`), so
    /// `update` and `delete` reach it through systemd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
}

/// The OCI status of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Set up, waiting for `start`.
    Created,
    /// The user's process runs.
    Running,
    /// The container's cgroup is frozen (`pause`).
    Paused,
    /// The init has exited.
    Stopped,
}

impl Status {
    /// The OCI name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }

    /// Derives the status from liveness and the FIFO's presence.
    pub fn derive(alive: bool, fifo_exists: bool) -> Status {
        match (alive, fifo_exists) {
            (false, _) => Status::Stopped,
            (true, true) => Status::Created,
            (true, false) => Status::Running,
        }
    }
}

/// Refuses ids that could escape the root directory.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(OciError::InvalidId(id.to_string()))
    }
}

/// `<root>/<id>`.
pub fn container_dir(root: &Path, id: &str) -> Result<PathBuf> {
    validate_id(id)?;
    Ok(root.join(id))
}

impl ContainerState {
    /// Loads `<root>/<id>/state.json`; [`OciError::NotFound`] when absent.
    pub fn load(root: &Path, id: &str) -> Result<Self> {
        let path = container_dir(root, id)?.join(STATE_FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OciError::NotFound(id.to_string()));
            }
            Err(e) => return Err(OciError::io("read", path, e)),
        };
        serde_json::from_slice(&data).map_err(|e| OciError::State {
            id: id.to_string(),
            reason: e.to_string(),
        })
    }

    /// Writes the record atomically (temp file + rename).
    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = container_dir(root, &self.id)?;
        let tmp = dir.join(".state.json.tmp");
        let data = serde_json::to_vec(self).map_err(|e| OciError::State {
            id: self.id.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(&tmp, data).map_err(|e| OciError::io("write", &tmp, e))?;
        let dst = dir.join(STATE_FILE);
        std::fs::rename(&tmp, &dst).map_err(|e| OciError::io("rename", dst, e))
    }

    /// True while the recorded init process is alive (not a zombie, same start time).
    pub fn init_alive(&self) -> bool {
        match read_proc_stat(self.pid) {
            Some((state, start)) => state != 'Z' && state != 'X' && start == self.init_start_time,
            None => false,
        }
    }

    /// The current status (`paused` when running in a frozen cgroup).
    pub fn status(&self, root: &Path) -> Result<Status> {
        let fifo = container_dir(root, &self.id)?.join(FIFO_FILE);
        let status = Status::derive(self.init_alive(), fifo.exists());
        if status == Status::Running && self.cgroup().is_ok_and(|c| c.is_frozen().unwrap_or(false))
        {
            return Ok(Status::Paused);
        }
        Ok(status)
    }

    /// The container's cgroup.
    pub fn cgroup(&self) -> Result<crate::cgroups::Cgroup> {
        let cgroup = match &self.systemd_unit {
            Some(unit) => crate::cgroups::Cgroup::in_systemd_scope(&self.cgroup_path, unit)?,
            None => crate::cgroups::Cgroup::new(&self.cgroup_path)?,
        };
        Ok(cgroup)
    }

    /// The OCI state JSON that `cradle-oci state` prints.
    pub fn oci_json(&self, status: Status) -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.2.0",
            "id": self.id,
            "status": status.as_str(),
            "pid": if status == Status::Stopped { 0 } else { self.pid },
            "bundle": self.bundle,
            "annotations": self.annotations,
            "created": self.created,
        })
    }
}

/// `(state char, start time)` from `/proc/<pid>/stat`, `None` when gone.
pub fn read_proc_stat(pid: i32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_proc_stat(&s)
}

/// Parses the state (field 3) and start time (field 22) of a stat line;
/// the command name may contain spaces and parentheses, so split after the last `)`.
pub fn parse_proc_stat(s: &str) -> Option<(char, u64)> {
    let rest = &s[s.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // After ')' field index 0 is field 3 of stat(5); start time is field 22.
    let start = fields.get(22 - 3)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_liveness_and_fifo() {
        assert_eq!(Status::derive(true, true), Status::Created);
        assert_eq!(Status::derive(true, false), Status::Running);
        assert_eq!(Status::derive(false, true), Status::Stopped);
        assert_eq!(Status::derive(false, false), Status::Stopped);
    }

    #[test]
    fn proc_stat_parses_names_with_spaces_and_parens() {
        let line =
            "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_proc_stat(line), Some(('S', 98765)));
    }

    #[test]
    fn own_process_is_readable() {
        let (state, start) = read_proc_stat(std::process::id() as i32).unwrap();
        assert!(state == 'R' || state == 'S');
        assert!(start > 0);
    }

    #[test]
    fn ids_that_escape_the_root_are_refused() {
        assert!(validate_id("abc-123_x.y").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("..").is_err());
        assert!(validate_id("a/b").is_err());
    }
}
