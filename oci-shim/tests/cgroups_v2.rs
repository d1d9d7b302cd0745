//! The cgroup v2 code paths against a real cgroup2 mount: the host's own
//! (`/sys/fs/cgroup` on a v2 host, `/sys/fs/cgroup/unified` on a hybrid one)
//! or, on a host with none, a cgroup2 hierarchy this test mounts itself. Its
//! controllers may all be bound elsewhere, so limits are not written, but
//! create, membership and remove can always be checked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

use std::path::PathBuf;

use cradle_shim::cgroups::{Cgroup, Hierarchy};

/// A cgroup2 hierarchy to test on: the host's, or one mounted for the test
/// (unmounted on drop).
struct Cgroup2 {
    root: PathBuf,
    _mounted: Option<tempfile::TempDir>,
}

impl Cgroup2 {
    fn find_or_mount() -> Self {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        // Fields: id parent major:minor root mount-point options... - fstype ...
        let host = mountinfo.lines().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split_whitespace().nth(4)?;
            (right.split_whitespace().next() == Some("cgroup2")).then(|| PathBuf::from(mount_point))
        });
        if let Some(root) = host {
            return Cgroup2 {
                root,
                _mounted: None,
            };
        }
        let dir = tempfile::tempdir().unwrap();
        nix::mount::mount(
            Some("cgroup2"),
            dir.path(),
            Some("cgroup2"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .expect("the kernel offers no cgroup2 filesystem");
        Cgroup2 {
            root: dir.path().to_path_buf(),
            _mounted: Some(dir),
        }
    }
}

impl Drop for Cgroup2 {
    fn drop(&mut self) {
        if self._mounted.is_some() {
            let _ = nix::mount::umount2(&self.root, nix::mount::MntFlags::MNT_DETACH);
        }
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
    if !cradle_testkit::root_or_skip() {
        return;
    }
    let cgroup2 = Cgroup2::find_or_mount();
    let h = Hierarchy::detect_at(&cgroup2.root).unwrap();
    assert!(h.is_v2());
    let top = format!("/cradle-v2-test-{}", std::process::id());
    let _guard = Guard(cgroup2.root.join(top.trim_start_matches('/')));
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
        Cgroup::with_hierarchy(&top, Hierarchy::detect_at(&cgroup2.root).unwrap()).unwrap();
    parent.remove().unwrap();
    assert!(!parent.dirs()[0].exists());
}
