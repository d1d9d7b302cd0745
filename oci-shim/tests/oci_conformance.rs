//! Root integration tests of what the OCI runtime-tools validation suite
//! checks and cradle-oci once refused or got wrong: FIFOs in
//! `linux.devices`, filesystem data on bind mounts, containers without a
//! mount namespace of their own or joining one by path.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

mod oci_harness;

use std::process::{Child, Command};

use oci_harness::*;
use serde_json::json;

#[test]
fn a_fifo_in_linux_devices_is_made_and_create_succeeds() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("fifo", &["sh", "-c", "test -p /dev/fifo && echo fifo"]);
    let mut cfg = b.config();
    cfg["linux"]["devices"] = json!([{"path": "/dev/fifo", "type": "p", "fileMode": 438}]);
    b.write_config(cfg);
    assert_eq!(b.run_to_exit(), "fifo\n");
}

#[test]
fn filesystem_data_on_a_bind_mount_is_ignored_not_refused() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("binddata", &["cat", "/data/f"]);
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("f"), "bound\n").unwrap();
    let mut cfg = b.config();
    cfg["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/data", "type": "bind", "source": src.path(),
        "options": ["bind", "mode=755", "size=1k"]
    }));
    b.write_config(cfg);
    assert_eq!(b.run_to_exit(), "bound\n");
}

/// Mount points at or under `dir` in our mount namespace.
fn mounts_under(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|mp| std::path::Path::new(mp).starts_with(dir))
        .collect()
}

#[test]
fn without_a_mount_namespace_the_container_shares_ours_and_delete_detaches_its_mounts() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("nomntns", &["readlink", "/proc/self/ns/mnt"]);
    let mut cfg = b.config();
    let namespaces: Vec<_> = cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ns| ns["type"] != "mount")
        .cloned()
        .collect();
    cfg["linux"]["namespaces"] = json!(namespaces);
    b.write_config(cfg);
    let rootfs = b.dir.path().join("rootfs");
    let pid = b.create_ok();
    assert_eq!(
        ns_link(&format!("/proc/{pid}/ns/mnt")),
        ns_link("/proc/self/ns/mnt")
    );
    assert!(
        !mounts_under(&rootfs).is_empty(),
        "the container's mounts are in our namespace"
    );
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0);
    assert_eq!(b.container_stdout(), ns_link("/proc/self/ns/mnt") + "\n");
    let out = b.oci(&["delete", &b.id]);
    assert!(
        out.status.success(),
        "delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mounts_under(&rootfs), Vec::<String>::new(), "left behind");
}

/// A process in a mount namespace of its own, killed on drop.
struct MountNsHolder(Child);
impl Drop for MountNsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_container_joins_a_mount_namespace_by_path() {
    if !is_root() || !cradle_testkit::tools_or_skip(&["/usr/bin/unshare"]) {
        return;
    }
    become_subreaper();
    let b = Bundle::new("joinmnt", &["readlink", "/proc/self/ns/mnt"]);
    // No --fork: unshare execs sleep in the new namespace itself.
    let holder = MountNsHolder(
        Command::new("/usr/bin/unshare")
            .args(["--mount", "--propagation", "private", "sleep", "60"])
            .spawn()
            .unwrap(),
    );
    let path = format!("/proc/{}/ns/mnt", holder.0.id());
    let ours = ns_link("/proc/self/ns/mnt");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while ns_link(&path) == ours {
        assert!(std::time::Instant::now() < deadline, "unshare never did");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let theirs = ns_link(&path);
    let mut cfg = b.config();
    for ns in cfg["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "mount" {
            ns["path"] = json!(path);
        }
    }
    b.write_config(cfg);
    assert_eq!(b.run_to_exit(), theirs + "\n");
}

#[test]
fn lsm_settings_are_applied_or_refused_by_name_never_dropped() {
    if !is_root() {
        return;
    }
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'));
    let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    let cases = [
        ("apparmorProfile", apparmor, "process.apparmorProfile"),
        ("selinuxLabel", selinux, "process.selinuxLabel"),
    ];
    for (field, enabled, name) in cases {
        if enabled {
            // Applied there: oci::security::lsm's unit tests check the written value.
            continue;
        }
        let b = Bundle::new("lsm", &["true"]);
        let mut cfg = b.config();
        cfg["process"][field] = json!("cradle-test-profile");
        b.write_config(cfg);
        let out = b.create();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{field} must not be dropped");
        assert!(err.contains(name) && err.contains("not enabled"), "{err}");
        assert!(!b.root.join(&b.id).exists(), "nothing left behind");
    }
    if !selinux {
        let b = Bundle::new("lsm-mount", &["true"]);
        let mut cfg = b.config();
        cfg["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
        b.write_config(cfg);
        let out = b.create();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("linux.mountLabel"));
    }
}

#[test]
fn an_exec_asking_for_an_lsm_the_host_lacks_is_refused_by_name() {
    if !is_root() {
        return;
    }
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'));
    let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    become_subreaper();
    let b = Bundle::new("lsm-exec", &["sleep", "100"]);
    assert!(b.create().status.success());
    let pid = b.pid();
    assert!(b.oci(&["start", &b.id]).status.success());
    wait_status(&b, "running");
    let process = |field: &str| {
        let mut p = b.config()["process"].clone();
        p["args"] = json!(["true"]);
        p[field] = json!("cradle-test-profile");
        let path = b.dir.path().join(format!("process-{field}.json"));
        std::fs::write(&path, p.to_string()).unwrap();
        path.to_string_lossy().into_owned()
    };
    let (aa_file, se_file) = (process("apparmorProfile"), process("selinuxLabel"));
    // (LSM enabled, the setting the refusal names, flags, command)
    let label = "system_u:system_r:container_t:s0";
    let cases = [
        (
            apparmor,
            "process.apparmorProfile",
            ["--process", &aa_file],
            None,
        ),
        (
            selinux,
            "process.selinuxLabel",
            ["--process", &se_file],
            None,
        ),
        (
            apparmor,
            "process.apparmorProfile",
            ["--apparmor", "cradle-test-profile"],
            Some("true"),
        ),
        (
            selinux,
            "process.selinuxLabel",
            ["--process-label", label],
            Some("true"),
        ),
    ];
    let mut checked = 0;
    for (enabled, name, flags, command) in cases {
        if enabled {
            // Applied there: oci::security::lsm's unit tests check the written value.
            continue;
        }
        let mut args = vec!["exec"];
        args.extend(flags);
        args.push(&b.id);
        args.extend(command);
        let out = b.oci(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{name} via {flags:?} must not be dropped"
        );
        assert!(err.contains(name) && err.contains("not enabled"), "{err}");
        checked += 1;
    }
    if checked == 0 {
        cradle_testkit::skip("both AppArmor and SELinux are enabled: nothing to refuse");
    }
    // Nothing was started, and a plain exec still runs.
    let out = b.oci(&["ps", "--format", "json", &b.id]);
    let pids: Vec<i32> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pids, vec![pid]);
    assert!(b.oci(&["exec", &b.id, "true"]).status.success());
}
