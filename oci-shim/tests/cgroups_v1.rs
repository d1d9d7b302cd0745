//! Root-only checks of the cgroup library against the host's real hierarchy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

use cradle_shim::cgroups::Cgroup;
use cradle_shim::spec::LinuxResources;

/// Root, or the test skips (fails under `CRADLE_TESTS_REQUIRE_ALL`).
fn is_root() -> bool {
    cradle_testkit::root_or_skip()
}

/// Removes the test cgroup (leaf and parent) even when an assertion fails.
struct Guard(Cgroup);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.remove();
        let _ = Cgroup::new(&format!("/cradle-test-{}", std::process::id())).map(|c| c.remove());
    }
}

#[test]
fn create_apply_add_and_remove_a_real_cgroup() {
    if !is_root() {
        return;
    }
    let path = format!("/cradle-test-{}/leaf", std::process::id());
    let cg = Cgroup::new(&path).unwrap();
    let _guard = Guard(cg.clone());
    cg.create().unwrap();
    let res: LinuxResources = serde_json::from_str(
        r#"{"memory":{"limit":67108864},"cpu":{"shares":512,"quota":50000,"period":100000},
            "pids":{"limit":64},
            "devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#,
    )
    .unwrap();
    cg.apply(&res).unwrap();
    for dir in cg.dirs() {
        assert!(dir.is_dir(), "{} missing", dir.display());
        let name = dir.to_string_lossy().to_string();
        if name.contains("/memory/") {
            let v = std::fs::read_to_string(dir.join("memory.limit_in_bytes")).unwrap();
            assert_eq!(v.trim(), "67108864");
        }
        if name.contains("/pids/") {
            let v = std::fs::read_to_string(dir.join("pids.max")).unwrap();
            assert_eq!(v.trim(), "64");
        }
        if name.contains("/cpuset/") {
            let v = std::fs::read_to_string(dir.join("cpuset.cpus")).unwrap();
            assert!(!v.trim().is_empty(), "cpuset.cpus not copied down");
        }
    }

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

    // A child cgroup made by the container goes with it.
    for dir in cg.dirs() {
        std::fs::create_dir(dir.join("child")).unwrap();
    }
    cg.remove().unwrap();
    for dir in cg.dirs() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
fn removing_an_absent_cgroup_is_ok() {
    if !is_root() {
        return;
    }
    let cg = Cgroup::new(&format!("/cradle-absent-{}", std::process::id())).unwrap();
    cg.remove().unwrap();
    assert!(cg.processes().unwrap().is_empty());
}
