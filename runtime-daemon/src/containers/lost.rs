//! A container whose shim is gone.
//!
//! The shim is the only watcher of a container: it holds its stdio, reaps
//! its init and records its exit. A shim that dies (SIGKILLed, OOM-killed,
//! crashed, while the daemon runs or while it is down) leaves the
//! container's processes running with nobody to stop them, holding their
//! ports and memory. So the container is reported exited only once every
//! process of its cgroup is killed and gone: first through the OCI runtime
//! (`delete --force`, which also drops its state and cgroup), then, since a
//! runtime that lost its state would find nothing, straight through the
//! cgroup's `cgroup.procs` in every hierarchy, until none is left. Until
//! then the container stays as it was, and the next StopContainer or
//! RemoveContainer tries again.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::exit::record_exit;
use super::record::ContainerRecord;
use super::runtime_cmd;
use crate::core::context::Context;
use crate::core::error::{Chain, Error, Result};
use crate::core::index::Entry;
use crate::platform::shims::Shim;

/// How long the container's processes may take to die after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// The shim is gone: kill whatever the container still runs, then take the
/// shim's exit record if it left one, else mark the exit unknown with `why`.
pub(crate) async fn lost(
    ctx: &Context,
    entry: &Entry<ContainerRecord>,
    shim: &dyn Shim,
    why: &str,
) -> Result<()> {
    let record = entry.snapshot();
    kill_container(ctx, &record).await?;
    let exit = shim.exit_record();
    record_exit(ctx, entry, exit.as_ref(), why)
}

/// Kills every process of the container and waits until none is left.
async fn kill_container(ctx: &Context, record: &ContainerRecord) -> Result<()> {
    let id = record.typed_id();
    if record.start_error.is_some() {
        return Ok(()); // never created by the runtime: nothing runs
    }
    match ctx.runtime_handler(&record.runtime_handler) {
        Ok(handler) => {
            if let Err(e) = runtime_cmd::force_delete(&handler, &id).await {
                tracing::warn!(
                    "lost shim: runtime delete failed, killing through the cgroup: {}",
                    Chain(&e)
                );
            }
        }
        Err(e) => tracing::warn!("lost shim: {}", e.chain()),
    }
    let cgroup = crate::platform::cgroup_host::cgroup_dir(&record.cgroup_path);
    let left = crate::core::log_span::spawn_blocking(move || kill_cgroup(&cgroup, KILL_WAIT))
        .await
        .map_err(|e| Error::task("cgroup kill", e))?;
    if !left.is_empty() {
        return Err(Error::Unkillable {
            id: id.to_string(),
            left,
            cgroup: record.cgroup_path.clone(),
            waited: KILL_WAIT,
        });
    }
    tracing::info!("lost shim: no process of the container is left");
    Ok(())
}

/// SIGKILLs every live process of `cgroup` (a path relative to each
/// hierarchy's root) in every hierarchy, thawing a frozen one, until none
/// is left or `wait` is over; returns those left. Zombies count as gone:
/// they hold nothing but their pid, and only their parent can reap them.
pub fn kill_cgroup(cgroup: &str, wait: Duration) -> Vec<i32> {
    let dirs: Vec<PathBuf> = hierarchies()
        .into_iter()
        .map(|h| h.join(cgroup.trim_start_matches('/')))
        .filter(|d| d.is_dir())
        .collect();
    let deadline = Instant::now() + wait;
    loop {
        let left: Vec<i32> = dirs.iter().flat_map(|d| live_procs(d)).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        for pid in &left {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // Frozen tasks act on SIGKILL only once thawed (a paused container).
        for dir in &dirs {
            thaw(dir);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The pids in `dir/cgroup.procs` that are not zombies.
fn live_procs(dir: &Path) -> Vec<i32> {
    let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
        return Vec::new(); // removed meanwhile: nothing in it
    };
    procs
        .lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
        .filter(|pid| !is_zombie(*pid))
        .collect()
}

fn is_zombie(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true; // gone
    };
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| matches!(state, "Z" | "X"))
}

/// Thaws `dir` if it is a frozen v1 freezer or v2 cgroup; best effort.
fn thaw(dir: &Path) {
    let v1 = dir.join("freezer.state");
    if std::fs::read_to_string(&v1).is_ok_and(|s| s.trim() != "THAWED") {
        let _ = std::fs::write(&v1, "THAWED");
    }
    let v2 = dir.join("cgroup.freeze");
    if std::fs::read_to_string(&v2).is_ok_and(|s| s.trim() == "1") {
        let _ = std::fs::write(&v2, "0");
    }
}

/// Mount points of every cgroup hierarchy (v1 controllers and v2).
fn hierarchies() -> Vec<PathBuf> {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fstype = right.split_whitespace().next()?;
            let point = left.split_whitespace().nth(4)?;
            matches!(fstype, "cgroup" | "cgroup2").then(|| PathBuf::from(point))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_that_does_not_exist_has_nothing_left() {
        let left = kill_cgroup("/cradle-no-such-cgroup-for-sure", Duration::ZERO);
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_zombie_counts_as_gone_and_a_live_process_does_not() {
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = i32::try_from(child.id()).expect("pid");
        // Bounded: `true` exits at once, the loop only waits for the scheduler.
        for _ in 0..1000 {
            if is_zombie(pid) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(is_zombie(pid), "an exited, unreaped child is a zombie");
        child.wait().expect("wait");
        assert!(!is_zombie(i32::try_from(std::process::id()).expect("pid")));
    }
}
