//! The daemon as a child subreaper, so that nothing Cradle starts is ever
//! re-parented to the host's init.
//!
//! Shims detach: `cradled` spawns `cradle-shim`, which forks and exits once
//! the forked shim is ready. Without a subreaper between them and PID 1 the
//! shims (and whatever else loses its parent below the daemon) are adopted
//! by the host's init, and where init does not reap (a container's or a
//! VM's minimal init) every exited shim stays a zombie for good. As a
//! subreaper the daemon adopts them itself, and [`spawn`] reaps those that
//! exit.
//!
//! It never reaps a child it spawned itself: those belong to whoever holds
//! their handle (`tokio::process`, `std::process`), whose wait would fail if
//! the status were taken from under it. Adopted processes are told apart by
//! their session: the daemon starts its children in its own session and none
//! of them leaves it (CNI plugins get a process group of their own, not a
//! session), while a shim detaches into a session of its own and container
//! processes run in theirs. What the daemon adopts in its own session (an
//! exec'd process whose runtime died before reaping it) is left alone.
//!
//! A daemon restart cannot adopt the shims of the previous one: they belong
//! to the previous daemon's parent by then.

use std::path::Path;

use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

/// Makes this process the subreaper of its descendants. Call it before the
/// first shim is spawned.
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Reaps adopted children whenever a child exits, for as long as the
/// runtime runs. Fails only if SIGCHLD cannot be listened to.
pub fn spawn() -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigchld = signal(SignalKind::child())?;
    Ok(tokio::spawn(async move {
        loop {
            let reaped = tokio::task::spawn_blocking(reap_adopted).await;
            match reaped {
                Ok(pids) if !pids.is_empty() => {
                    tracing::debug!(?pids, "reaped adopted processes");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("reaping adopted processes: {e}"),
            }
            if sigchld.recv().await.is_none() {
                return;
            }
        }
    }))
}

/// Reaps every zombie child of ours that we adopted (see the module doc);
/// returns their pids. Runs at every SIGCHLD, so it reads the stat of our
/// children only (`/proc/self/task/*/children`), not of every process on
/// the node: on a node with 500 pods a scan of all of `/proc` at each exit
/// was a sixth of the daemon's CPU (issue 17). Kernels without those files
/// get the full scan.
pub fn reap_adopted() -> Vec<i32> {
    let me = std::process::id();
    let Some(my_session) = read_stat(Path::new("/proc/self/stat")).map(|s| s.session) else {
        return Vec::new();
    };
    let candidates = match own_children(Path::new("/proc/self/task")) {
        Some(children) => children,
        None => all_pids(),
    };
    let mut reaped = Vec::new();
    for pid in candidates {
        let Some(stat) = read_stat(&Path::new("/proc").join(pid.to_string()).join("stat")) else {
            continue; // gone meanwhile
        };
        if !stat.is_adopted_zombie_of(me, my_session) {
            continue;
        }
        // A zombie's pid cannot be reused before it is reaped, and nobody
        // but us waits for a child we did not spawn: this is the process
        // just read.
        if let Ok(status) = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            tracing::debug!(pid, comm = %stat.comm, ?status, "reaped an adopted process");
            reaped.push(pid);
        }
    }
    reaped
}

/// The children of every thread under `tasks` (`/proc/self/task`): an
/// adopted process becomes the child of one of our threads. `None` when
/// the kernel has no `children` files (CONFIG_PROC_CHILDREN).
fn own_children(tasks: &Path) -> Option<Vec<i32>> {
    let mut found_any = false;
    let mut pids = Vec::new();
    for task in std::fs::read_dir(tasks).ok()?.flatten() {
        // A thread that ended meanwhile has no file: its children moved on.
        let Ok(list) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        found_any = true;
        pids.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    found_any.then_some(pids)
}

/// Every pid in `/proc`.
fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .collect()
}

/// The fields of `/proc/<pid>/stat` the reaper needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stat {
    comm: String,
    state: char,
    ppid: u32,
    session: i32,
}

impl Stat {
    fn is_adopted_zombie_of(&self, parent: u32, parent_session: i32) -> bool {
        self.state == 'Z' && self.ppid == parent && self.session != parent_session
    }
}

fn read_stat(path: &Path) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(path).ok()?)
}

/// `pid (comm) state ppid pgrp session …`; comm may hold spaces and
/// parentheses, so the fields are counted from the last `)`.
fn parse_stat(line: &str) -> Option<Stat> {
    let open = line.find('(')?;
    let (head, rest) = line.rsplit_once(')')?;
    let comm = head.get(open + 1..)?.to_string();
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let _pgrp = fields.next()?;
    let session = fields.next()?.parse().ok()?;
    Some(Stat {
        comm,
        state,
        ppid,
        session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let stat = parse_stat("812 (cradle (shim)) Z 77 812 812 0 -1").expect("parsed");
        assert_eq!(
            stat,
            Stat {
                comm: "cradle (shim)".into(),
                state: 'Z',
                ppid: 77,
                session: 812,
            }
        );
        assert_eq!(parse_stat("812 (x) Z"), None);
    }

    #[test]
    fn only_zombies_of_ours_from_another_session_are_adopted() {
        let detached_shim = parse_stat("812 (cradle-shim) Z 77 812 812").expect("parsed");
        assert!(detached_shim.is_adopted_zombie_of(77, 70));
        // Our own child in our session: its spawner reaps it.
        let runtime = parse_stat("813 (cradle-oci) Z 77 70 70").expect("parsed");
        assert!(!runtime.is_adopted_zombie_of(77, 70));
        // Alive, or someone else's.
        let live = parse_stat("814 (cradle-shim) S 77 814 814").expect("parsed");
        assert!(!live.is_adopted_zombie_of(77, 70));
        assert!(!detached_shim.is_adopted_zombie_of(1, 70));
    }

    #[test]
    fn our_children_are_listed_per_thread() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let listed = own_children(Path::new("/proc/self/task"));
        child.kill().expect("kill sleep");
        child.wait().expect("reap sleep");
        // Hosts without CONFIG_PROC_CHILDREN have no lists (the reaper
        // then scans all of /proc); where there are, the child is in one.
        if let Some(pids) = listed {
            assert!(pids.contains(&(child.id() as i32)), "{pids:?}");
        }
        assert!(own_children(Path::new("/nonexistent/task")).is_none());
        assert!(all_pids().contains(&(std::process::id() as i32)));
    }

    #[test]
    fn a_zombie_child_of_our_own_session_is_left_to_its_spawner() {
        let mut own = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let stat = Path::new("/proc").join(own.id().to_string()).join("stat");
        // Bounded: `true` exits at once, the loop only waits for the scheduler.
        for _ in 0..1000 {
            if read_stat(&stat).is_some_and(|s| s.state == 'Z') {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!reap_adopted().contains(&(own.id() as i32)));
        let status = own.wait().expect("our own child is still ours to wait for");
        assert!(status.success());
    }
}
