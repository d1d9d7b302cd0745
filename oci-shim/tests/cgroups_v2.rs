//! The cgroup v2 code paths against a real cgroup2 mount: on this hybrid
//! host the unified hierarchy at /sys/fs/cgroup/unified has no controllers,
//! so limits cannot be written, but create, membership and remove can.
//! Skipped where that mount is absent or without root.

use std::path::{Path, PathBuf};

use cradle_shim::cgroups::{Cgroup, Hierarchy};

const UNIFIED: &str = "/sys/fs/cgroup/unified";

fn unified() -> Option<Hierarchy> {
    if !nix::unistd::geteuid().is_root() || !Path::new(UNIFIED).join("cgroup.procs").exists() {
        return None;
    }
    match Hierarchy::detect_at(Path::new(UNIFIED)) {
        Ok(h @ Hierarchy::V2 { .. }) => Some(h),
        _ => None,
    }
}

struct Guard(PathBuf);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(self.0.join("leaf"));
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn v2_create_membership_and_remove_work_on_a_cgroup2_mount() {
    let Some(h) = unified() else {
        eprintln!("skipped: no cgroup2 mount at {UNIFIED} or not root");
        return;
    };
    assert!(h.is_v2());
    let top = format!("/cradle-v2-test-{}", std::process::id());
    let _guard = Guard(Path::new(UNIFIED).join(top.trim_start_matches('/')));
    let cg = Cgroup::with_hierarchy(&format!("{top}/leaf"), h).unwrap();
    cg.create().unwrap();
    assert_eq!(cg.dirs().len(), 1);
    assert!(cg.dirs()[0].is_dir());

    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    cg.add_process(pid).unwrap();
    assert_eq!(cg.processes().unwrap(), vec![pid]);
    assert_eq!(cg.oom_kill_count().unwrap(), 0);
    child.kill().unwrap();
    child.wait().unwrap();

    cg.remove().unwrap();
    assert!(!cg.dirs()[0].exists());
    let parent =
        Cgroup::with_hierarchy(&top, Hierarchy::detect_at(Path::new(UNIFIED)).unwrap()).unwrap();
    parent.remove().unwrap();
    assert!(!parent.dirs()[0].exists());
}
