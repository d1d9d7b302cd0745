//! The main process: `create`'s side of the chain. It forks the
//! intermediate ([`super::intermediate_process`]), writes the id maps and
//! time offsets it asks for, receives the init's pid, places the init in
//! its cgroup, lets it go, runs the prestart and createRuntime hooks when
//! the init asks, and waits for the init's "ready".

use std::path::Path;

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork};

use crate::cgroups::Cgroup;
use crate::oci::error::{OciError, Result};
use crate::oci::hooks::{self, Phase};
use crate::oci::log;
use crate::oci::process::channel::Channel;
use crate::oci::process::init_process::InitConfig;
use crate::oci::process::intermediate_process;
use crate::oci::process::message::Msg;
use crate::oci::process::namespaces::MountNs;
use crate::oci::process::rollback::Rollback;
use crate::oci::process::userns;
use crate::oci::rootfs::devices;
use crate::oci::syscall::Syscall;
use crate::spec::{Linux, LinuxDeviceCgroup};

/// What [`start`] leaves: an init waiting on the exec FIFO.
pub(crate) struct Started {
    /// The init's host pid.
    pub pid: Pid,
    /// The device rules its cgroup got (recorded in the state, for `update`).
    pub device_rules: Vec<LinuxDeviceCgroup>,
}

/// Starts the chain for container `id` of `bundle` and returns once the
/// init waits on the exec FIFO. Every side effect is registered in `rb`.
pub(crate) fn start(
    sys: &impl Syscall,
    cfg: &InitConfig,
    id: &str,
    bundle: &Path,
    cgroup: &Cgroup,
    rb: &mut Rollback,
) -> Result<Started> {
    let (mut parent_end, child_end) = Channel::pair()?;
    let pid = spawn(cfg, &mut parent_end, child_end)?;
    rb.pid = Some(pid);
    if cfg.ns.mount_ns() == MountNs::Inherited {
        rb.host_mounts = Some(cfg.rootfs.clone());
    }
    // Registered first: a create that fails half-way (one controller of
    // several) must still be undone.
    rb.cgroup = Some(cgroup.clone());
    let linux = cfg.spec.linux.clone().unwrap_or_default();
    let device_rules = place_in_cgroup(sys, id, cgroup, &linux, pid.as_raw())?;
    if let Some(adj) = cfg.spec.process.as_ref().and_then(|p| p.oom_score_adj) {
        write_oom_score_adj(pid, adj)?;
    }
    let spec = &cfg.spec;
    let annotations = spec.annotations.clone().unwrap_or_default();
    let creating = hooks::state_json(id, "creating", pid.as_raw(), bundle, &annotations);
    if hooks::any_at_create(spec) || !hooks::of(spec, Phase::StartContainer).is_empty() {
        parent_end.send(&Msg::State(creating.clone()))?;
    }
    parent_end.send(&Msg::Go)?;
    wait_ready(cfg, cgroup, &creating, &mut parent_end)?;
    Ok(Started { pid, device_rules })
}

/// Makes the cgroup, writes the spec's resources and moves `pid` in.
/// Like runc, the standard devices (and the spec's own device nodes) are
/// always allowed, whatever the spec's device rules say. One apply with
/// all the rules: on v2 they become one eBPF program. Returns the device
/// rules applied (recorded in the state, for `update`).
pub(crate) fn place_in_cgroup(
    sys: &impl Syscall,
    id: &str,
    cgroup: &Cgroup,
    linux: &Linux,
    pid: i32,
) -> Result<Vec<LinuxDeviceCgroup>> {
    // A systemd scope is started with the init in it.
    let cgroup = &cgroup.with_init_pid(pid);
    sys.cgroup_create(cgroup)?;
    let mut res = linux.resources.clone().unwrap_or_default();
    let mut rules = res.devices.take().unwrap_or_default();
    rules.extend(
        devices::always_allowed(linux.devices.as_deref().unwrap_or(&[]))
            .devices
            .unwrap_or_default(),
    );
    res.devices = Some(rules);
    for warning in sys.cgroup_apply(cgroup, &res)? {
        log::warn(&format!("container {id}: {warning}"));
    }
    let device_rules = res.devices.take().unwrap_or_default();
    sys.cgroup_add_process(cgroup, pid)?;
    Ok(device_rules)
}

/// Answers the init until it is ready: logs its warnings and, when it
/// has mounted everything and waits before pivot_root, runs the prestart
/// and createRuntime hooks. A failing hook destroys the container; the
/// spec then continues with the poststop hooks.
///
/// The status each hook reads (runc and crun differ): the deprecated
/// prestart hooks get `created`, as crun gives them and as the spec's own
/// conformance suite (runtime-tools' hooks_stdin) checks: they date from
/// when they ran at start, on a created container, and hooks written then
/// expect that. createRuntime, the lifecycle's hook of this moment, gets
/// `creating`, what `state` would say now (runc, and the runtime-spec's
/// definition of the status).
fn wait_ready(cfg: &InitConfig, cgroup: &Cgroup, creating: &str, chan: &mut Channel) -> Result<()> {
    let spec = &cfg.spec;
    let reply = loop {
        match chan.recv().map_err(|e| oom_at_start(cgroup, e))? {
            Msg::Warn(w) => log::warn(&w),
            Msg::Hooks => {
                let created = creating.replacen("\"creating\"", "\"created\"", 1);
                let ran = hooks::run(spec, Phase::Prestart, &created)
                    .and_then(|()| hooks::run(spec, Phase::CreateRuntime, creating));
                if let Err(e) = ran {
                    let stopped = creating.replacen("\"creating\"", "\"stopped\"", 1);
                    hooks::run_warn(spec, Phase::Poststop, &stopped);
                    return Err(e);
                }
                chan.send(&Msg::Go)?;
            }
            other => break other,
        }
    };
    match reply {
        Msg::Ready => Ok(()),
        Msg::Error(e) => Err(OciError::Init(e)),
        other => Err(OciError::Init(format!("unexpected message {other:?}"))),
    }
}

/// An init that died before reporting may have been killed by the OOM
/// killer under the container's memory limit (its own set-up pages count):
/// say so, rather than only that it died.
fn oom_at_start(cgroup: &Cgroup, error: OciError) -> OciError {
    match cgroup.oom_kill_count() {
        Ok(kills) if kills > 0 => OciError::Init(format!(
            "OOM-killed at start: the container's memory limit is too small for its process to start ({error})"
        )),
        _ => error,
    }
}

/// Forks the intermediate process, which enters the namespaces and forks
/// the init; returns the init's host pid.
fn spawn(cfg: &InitConfig, parent: &mut Channel, child_end: Channel) -> Result<Pid> {
    let mut child_end = child_end;
    // SAFETY: cradle-oci is single-threaded (no async runtime, no threads
    // spawned), so the child is a complete copy and may run Rust code.
    match unsafe { fork() }.map_err(|e| OciError::sys("fork intermediate", e))? {
        ForkResult::Child => intermediate_process::run(cfg, &mut child_end),
        ForkResult::Parent { child } => {
            // Our copy must go, so EOF means the children died.
            drop(child_end);
            let mut msg = parent.recv();
            if let Ok(Msg::Maps) = msg {
                let linux = cfg.spec.linux.clone().unwrap_or_default();
                msg = match userns::write_for(
                    child.as_raw(),
                    &linux,
                    cfg.ns.new_user,
                    cfg.ns.new_time,
                ) {
                    Ok(()) => parent.send(&Msg::Go).and_then(|()| parent.recv()),
                    Err(e) => {
                        let _ = kill(child, Signal::SIGKILL);
                        Err(e)
                    }
                };
            }
            // The intermediate's only job is to report; reap it now.
            let _ = waitpid(child, None);
            match msg? {
                Msg::Pid(p) => Ok(Pid::from_raw(p)),
                Msg::Error(e) => Err(OciError::Init(e)),
                other => Err(OciError::Init(format!("unexpected message {other:?}"))),
            }
        }
    }
}

/// Writes oom_score_adj; lowering it needs CAP_SYS_RESOURCE, so a refused
/// lower value keeps the current one with a warning instead of failing.
fn write_oom_score_adj(pid: Pid, adj: i32) -> Result<()> {
    let path = format!("/proc/{pid}/oom_score_adj");
    match std::fs::write(&path, adj.to_string()) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) => {
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            log::warn(&format!(
                "oom_score_adj {adj} refused ({e}); keeping {}",
                current.trim()
            ));
            Ok(())
        }
        Err(e) => Err(OciError::io("write", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::Hierarchy;
    use crate::oci::syscall::{Call, Recorder};

    #[test]
    fn the_init_joins_its_cgroup_after_the_resources_with_the_standard_devices_allowed() {
        let cgroup = Cgroup::with_hierarchy(
            "/cradle-oci/c1",
            Hierarchy::V2 {
                root: "/sys/fs/cgroup".into(),
            },
        )
        .unwrap();
        let linux: Linux = serde_json::from_value(serde_json::json!({
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
        }))
        .unwrap();
        let sys = Recorder::new(std::path::Path::new("/"));
        let rules = place_in_cgroup(&sys, "c1", &cgroup, &linux, 42).unwrap();
        // The spec's deny-all, runc's ten standard rules, the spec's node.
        assert_eq!(rules.len(), 12);
        assert!(!rules[0].allow);
        assert_eq!((rules[11].major, rules[11].minor), (Some(10), Some(229)));
        assert_eq!(
            sys.log(),
            [
                Call::CgroupCreate("/cradle-oci/c1".into()),
                Call::CgroupApply("/cradle-oci/c1".into(), 12),
                Call::CgroupAddProcess("/cradle-oci/c1".into(), 42),
            ]
        );
    }
}
