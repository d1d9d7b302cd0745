//! Root integration tests of new user namespaces (id maps written by
//! `create`, root inside mapped to an unprivileged host id) and new time
//! namespaces (clock offsets).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

mod oci_harness;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use oci_harness::*;
use serde_json::json;

#[test]
fn root_in_a_new_user_namespace_is_an_unprivileged_host_id() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new(
        "userns",
        &[
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; echo hello >/data/f",
        ],
    );
    // The container's root is host uid 100000: it must be able to reach the bundle.
    std::fs::set_permissions(b.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Its rootfs is owned by the mapped ids, as a chowned (or id-mapped) image would be.
    let st = Command::new("chown")
        .args(["-hR", &format!("{HOST_ID}:{HOST_ID}")])
        .arg(b.dir.path().join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    let data = tempfile::tempdir().unwrap();
    nix::unistd::chown(
        data.path(),
        Some(nix::unistd::Uid::from_raw(HOST_ID)),
        Some(nix::unistd::Gid::from_raw(HOST_ID)),
    )
    .unwrap();
    let mut cfg = b.config();
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": HOST_ID, "size": 65536}]);
    cfg["linux"]["uidMappings"] = map.clone();
    cfg["linux"]["gidMappings"] = map;
    cfg["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/data", "type": "bind", "source": data.path(), "options": ["rbind", "rw"]}));
    b.write_config(cfg);

    let pid = b.create_ok();
    let host_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        host_map.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0, "stdout: {}", b.container_stdout());
    let stdout = b.container_stdout();
    let words: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "100000", "65536"], "{stdout}");
    let meta = std::fs::metadata(data.path().join("f")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), HOST_ID);
    assert!(b.oci(&["delete", &b.id]).status.success());

    // exec joins the user namespace too: root there, not host root.
    let b2 = Bundle::new("userns-exec", &["sleep", "30"]);
    let mut cfg2 = b.config();
    cfg2["process"]["args"] = json!(["sleep", "30"]);
    cfg2["linux"]["cgroupsPath"] = json!(b2.cgroup);
    b2.write_config(cfg2);
    std::fs::remove_dir_all(b2.dir.path().join("rootfs")).unwrap();
    std::fs::rename(b.dir.path().join("rootfs"), b2.dir.path().join("rootfs")).unwrap();
    std::fs::set_permissions(b2.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = b2.create();
    assert!(
        out.status.success(),
        "create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(b2.oci(&["start", &b2.id]).status.success());
    let out = b2.oci(&["exec", &b2.id, "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let words: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(words, ["0", "0", "100000", "65536"], "{out:?}");
}

#[test]
fn a_new_user_namespace_without_maps_is_refused_and_leaves_nothing() {
    if !is_root() {
        return;
    }
    let b = Bundle::new("userns-nomap", &["true"]);
    let mut cfg = b.config();
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    b.write_config(cfg);
    let out = b.create();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("uidMappings"));
    assert!(!b.root.join(&b.id).exists());
    assert!(b.cgroup_dirs().iter().all(|d| !d.exists()));
}

#[test]
fn a_new_time_namespace_applies_the_boottime_offset() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("timens", &["cat", "/proc/uptime"]);
    let mut cfg = b.config();
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    cfg["linux"]["timeOffsets"] = json!({"boottime": {"secs": 10_000_000}});
    b.write_config(cfg);
    let pid = b.create_ok();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0);
    let stdout = b.container_stdout();
    let uptime: f64 = stdout.split_whitespace().next().unwrap().parse().unwrap();
    assert!(uptime > 10_000_000.0, "uptime {stdout}");
    assert!(b.oci(&["delete", &b.id]).status.success());
}

/// A network namespace pinned on a file, unmounted and removed on drop.
struct NetnsPin(std::path::PathBuf);
impl Drop for NetnsPin {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn sysfs_in_a_user_namespace_with_a_joined_netns_is_the_hosts_bound() {
    if !is_root() {
        return;
    }
    become_subreaper();
    // A sysfs of the joined netns would list only its `lo`; the bound
    // host /sys lists the host's interfaces.
    let b = userns_bundle("userns-sysfs", &["sh", "-c", "ls /sys/class/net; id -u"]);
    std::os::unix::fs::symlink("busybox", b.dir.path().join("rootfs/bin/ls")).unwrap();
    let pin = NetnsPin(b.dir.path().join("netns"));
    std::fs::write(&pin.0, "").unwrap();
    let st = Command::new("unshare")
        .arg(format!("--net={}", pin.0.display()))
        .arg("true")
        .status()
        .unwrap();
    assert!(st.success());
    let mut cfg = b.config();
    cfg["linux"]["namespaces"][1] = json!({"type": "network", "path": pin.0});
    b.write_config(cfg);
    let pid = b.create_ok();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0);
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    host.push("0".into());
    let seen: Vec<String> = b
        .container_stdout()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(seen, host);
    assert!(b.oci(&["delete", &b.id]).status.success());
}

/// A process holding a user namespace that maps 0 to [`HOST_ID`]; killed on drop.
struct UserNsHolder(std::process::Child);
impl Drop for UserNsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl UserNsHolder {
    fn start() -> UserNsHolder {
        let child = Command::new("unshare")
            .args(["--user", "sleep", "30"])
            .spawn()
            .unwrap();
        let holder = UserNsHolder(child);
        let pid = holder.0.id();
        let ours = std::fs::read_link("/proc/self/ns/user").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_link(format!("/proc/{pid}/ns/user"))
            .ok()
            .as_ref()
            == Some(&ours)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "unshare --user never ran"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let map = format!("0 {HOST_ID} 65536\n");
        std::fs::write(format!("/proc/{pid}/uid_map"), &map).unwrap();
        std::fs::write(format!("/proc/{pid}/gid_map"), &map).unwrap();
        holder
    }

    fn path(&self) -> String {
        format!("/proc/{}/ns/user", self.0.id())
    }
}

#[test]
fn a_user_namespace_joined_by_path_maps_root_like_a_new_one() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = userns_bundle(
        "userns-join",
        &["sh", "-c", "id -u; cat /proc/self/uid_map"],
    );
    let holder = UserNsHolder::start();
    let mut cfg = b.config();
    let ns = cfg["linux"]["namespaces"].as_array_mut().unwrap();
    ns.pop();
    ns.push(json!({"type": "user", "path": holder.path()}));
    cfg["linux"].as_object_mut().unwrap().remove("uidMappings");
    cfg["linux"].as_object_mut().unwrap().remove("gidMappings");
    b.write_config(cfg);
    let pid = b.create_ok();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap(),
        std::fs::read_link(holder.path()).unwrap()
    );
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0);
    let words: Vec<String> = b
        .container_stdout()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(words, ["0", "0", "100000", "65536"]);
    assert!(b.oci(&["delete", &b.id]).status.success());
}

/// In a user namespace mknod is refused and the default nodes are bind
/// mounts of the host's; a spec device at a default path (what the daemon
/// may list) must still not fail create with EEXIST: it replaces the
/// default node, bound from the host's node of that path.
#[test]
fn a_spec_device_at_a_default_path_works_in_a_user_namespace() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = userns_bundle(
        "usernsdev",
        &[
            "sh",
            "-c",
            "echo x > /dev/null && echo wrote; stat -c '%t:%T' /dev/null",
        ],
    );
    let mut cfg = b.config();
    cfg["linux"]["devices"] = json!([
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666, "uid": 0, "gid": 0}
    ]);
    b.write_config(cfg);
    assert_eq!(b.run_to_exit(), "wrote\n1:3\n");
}

/// tmpcopyup in a user namespace copies owners exactly, the copy being made
/// with the host's ids: a mapped owner stays that id inside, and one the
/// namespace does not map stays unmapped (the overflow id inside), as the
/// covered file was, instead of failing create or becoming root's.
#[test]
fn tmpcopyup_in_a_user_namespace_keeps_mapped_and_unmapped_owners() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = userns_bundle(
        "usernscopy",
        &[
            "sh",
            "-c",
            "cat /conf/mapped /conf/unmapped; stat -c '%u %n' /conf/mapped /conf/unmapped",
        ],
    );
    let _ = std::os::unix::fs::symlink("busybox", b.dir.path().join("rootfs/bin/stat"));
    let conf = b.dir.path().join("rootfs/conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(conf.join("mapped"), "m\n").unwrap();
    std::fs::write(conf.join("unmapped"), "u\n").unwrap();
    let chown = |owner: String, path: &str| {
        assert!(
            Command::new("chown")
                .arg(owner)
                .arg(conf.join(path))
                .status()
                .unwrap()
                .success()
        );
    };
    chown(format!("{HOST_ID}:{HOST_ID}"), "");
    chown(format!("{}:{}", HOST_ID + 5, HOST_ID + 5), "mapped");
    chown("0:0".into(), "unmapped"); // host root: outside the map
    for f in ["mapped", "unmapped"] {
        std::fs::set_permissions(conf.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut cfg = b.config();
    cfg["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/conf", "type": "tmpfs", "source": "tmpfs",
        "options": ["tmpcopyup", "mode=755"]
    }));
    b.write_config(cfg);
    let pid = b.create_ok();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0, "stdout: {}", b.container_stdout());
    let overflow = std::fs::read_to_string("/proc/sys/kernel/overflowuid").unwrap();
    assert_eq!(
        b.container_stdout(),
        format!("m\nu\n5 /conf/mapped\n{} /conf/unmapped\n", overflow.trim())
    );
    assert!(b.oci(&["delete", &b.id]).status.success());
}
