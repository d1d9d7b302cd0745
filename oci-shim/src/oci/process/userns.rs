//! User and time namespaces: what `create` writes for the intermediate
//! once it has unshared them (uid/gid maps, clock offsets), and what the
//! intermediate does around that hand-over.
//!
//! The runtime runs as host root, so the maps may name any host ids and
//! `setgroups` stays allowed (writing `deny` is only required of
//! unprivileged writers, and containers need setgroups for
//! `additionalGids`). Offsets must be in place before the first process
//! enters the time namespace, which is the init, forked afterwards.

use std::path::Path;

use nix::unistd::{Gid, Uid};

use crate::oci::error::{OciError, Result};
use crate::oci::process::channel::Channel;
use crate::oci::process::message::Msg;
use crate::oci::security::hardening;
use crate::oci::syscall::Syscall;
use crate::spec::{Linux, LinuxIdMapping};

/// `container host size` lines, as `/proc/<pid>/uid_map` takes them.
pub(crate) fn map_lines(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}

/// `<clock> <secs> <nanosecs>` lines for `/proc/<pid>/timens_offsets`.
pub(crate) fn offset_lines(linux: &Linux) -> Result<String> {
    let mut out = String::new();
    let mut offsets: Vec<_> = linux
        .time_offsets
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    offsets.sort_by(|a, b| a.0.cmp(&b.0));
    for (clock, off) in offsets {
        if clock != "monotonic" && clock != "boottime" {
            return Err(OciError::Unsupported(format!(
                "time offset for clock {clock:?}"
            )));
        }
        out.push_str(&format!(
            "{clock} {} {}\n",
            off.secs.unwrap_or(0),
            off.nanosecs.unwrap_or(0)
        ));
    }
    Ok(out)
}

/// `create`'s side: writes the maps and offsets of the intermediate `pid`.
pub(crate) fn write_for(pid: i32, linux: &Linux, new_user: bool, new_time: bool) -> Result<()> {
    let proc_file = |name: &str| format!("/proc/{pid}/{name}");
    if new_user {
        let uids = map_lines(linux.uid_mappings.as_deref().unwrap_or(&[]));
        let gids = map_lines(linux.gid_mappings.as_deref().unwrap_or(&[]));
        if uids.is_empty() || gids.is_empty() {
            return Err(OciError::Unsupported(
                "a new user namespace without uidMappings and gidMappings".into(),
            ));
        }
        hardening::write_proc_file(Path::new(&proc_file("uid_map")), &uids)?;
        hardening::write_proc_file(Path::new(&proc_file("gid_map")), &gids)?;
    }
    if new_time {
        let offsets = offset_lines(linux)?;
        if !offsets.is_empty() {
            hardening::write_proc_file(Path::new(&proc_file("timens_offsets")), &offsets)?;
        }
    }
    Ok(())
}

/// The intermediate's side, after unsharing: become dumpable so `create`
/// may open our `/proc` files, ask for the maps, wait, and turn
/// non-dumpable again.
pub(crate) fn request_maps(chan: &mut Channel) -> Result<()> {
    nix::sys::prctl::set_dumpable(true).map_err(|e| OciError::sys("PR_SET_DUMPABLE 1", e))?;
    chan.send(&Msg::Maps)?;
    let reply = chan.recv()?;
    hardening::make_non_dumpable()?;
    match reply {
        Msg::Go => {}
        Msg::Error(e) => return Err(OciError::Init(e)),
        other => return Err(OciError::Init(format!("unexpected message {other:?}"))),
    }
    Ok(())
}

/// In a new or joined user namespace: become its root, as runc does, so
/// the set-up (mkdir, mknod, chown in the rootfs) acts as a mapped id.
pub(crate) fn become_root(sys: &impl Syscall) -> Result<()> {
    sys.setresgid(Gid::from_raw(0))
        .map_err(|e| OciError::sys("setresgid 0 in the user namespace", e))?;
    sys.setresuid(Uid::from_raw(0))
        .map_err(|e| OciError::sys("setresuid 0 in the user namespace", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_and_offsets_format_as_the_kernel_reads_them() {
        let linux: Linux = serde_json::from_value(serde_json::json!({
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "timeOffsets": {"monotonic": {"secs": 86400}, "boottime": {"secs": 7, "nanosecs": 5}}
        }))
        .unwrap();
        assert_eq!(
            map_lines(linux.uid_mappings.as_deref().unwrap()),
            "0 100000 65536\n"
        );
        assert_eq!(
            offset_lines(&linux).unwrap(),
            "boottime 7 5\nmonotonic 86400 0\n"
        );
        let bad: Linux =
            serde_json::from_value(serde_json::json!({"timeOffsets": {"realtime": {"secs": 1}}}))
                .unwrap();
        assert!(offset_lines(&bad).is_err());
    }
}
