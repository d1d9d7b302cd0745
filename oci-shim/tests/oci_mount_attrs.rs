//! Root integration tests of the mount options that need the new mount
//! API: recursive attributes (`rro`…) and id-mapped bind mounts, each
//! checked from inside a real container.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

mod oci_harness;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use oci_harness::*;
use serde_json::{Value, json};

/// A tmpfs mounted on the host for the test, unmounted on drop.
struct HostMount(PathBuf);
impl HostMount {
    fn tmpfs(at: &Path) -> HostMount {
        std::fs::create_dir_all(at).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=1m"),
        )
        .unwrap();
        HostMount(at.to_path_buf())
    }
}
impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn applets(b: &Bundle, names: &[&str]) {
    for a in names {
        let _ = std::os::unix::fs::symlink("busybox", b.dir.path().join("rootfs/bin").join(a));
    }
}

fn add_mount(b: &Bundle, m: Value) {
    let mut cfg = b.config();
    cfg["mounts"].as_array_mut().unwrap().push(m);
    b.write_config(cfg);
}

const WRITE_BOTH: &str = "touch /data/top 2>/dev/null && echo top-writable; \
     touch /data/sub/inner 2>/dev/null && echo sub-writable; echo done";

#[test]
fn rro_makes_a_recursive_bind_read_only_at_every_level() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("rro", &["sh", "-c", WRITE_BOTH]);
    applets(&b, &["touch"]);
    let host = b.dir.path().join("hostdata");
    let _sub = HostMount::tmpfs(&host.join("sub"));
    add_mount(
        &b,
        json!({"destination": "/data", "type": "bind", "source": host, "options": ["rbind", "rro"]}),
    );
    assert_eq!(b.run_to_exit().trim(), "done");
    assert!(!host.join("top").exists() && !host.join("sub/inner").exists());
}

#[test]
fn plain_ro_leaves_submounts_of_an_rbind_writable_unlike_rro() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("ro-sub", &["sh", "-c", WRITE_BOTH]);
    applets(&b, &["touch"]);
    let host = b.dir.path().join("hostdata");
    let _sub = HostMount::tmpfs(&host.join("sub"));
    add_mount(
        &b,
        json!({"destination": "/data", "type": "bind", "source": host, "options": ["rbind", "ro"]}),
    );
    // The kernel's own semantics, which is why rro exists.
    assert_eq!(b.run_to_exit().trim(), "sub-writable\ndone");
}

#[test]
fn recursive_nosuid_noexec_reach_the_submount() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new(
        "rnoexec",
        &["sh", "-c", "grep ' /data/sub ' /proc/self/mountinfo"],
    );
    let host = b.dir.path().join("hostdata");
    let _sub = HostMount::tmpfs(&host.join("sub"));
    add_mount(
        &b,
        json!({"destination": "/data", "type": "bind", "source": host, "options": ["rbind", "rnosuid", "rnoexec", "rnoatime"]}),
    );
    let line = b.run_to_exit();
    let opts = line.split(' ').nth(5).unwrap_or("");
    for want in ["nosuid", "noexec", "noatime"] {
        assert!(opts.split(',').any(|o| o == want), "{want} missing: {line}");
    }
}

#[test]
fn idmapped_binds_show_host_owners_as_the_mapped_ids() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = userns_bundle(
        "idmap",
        &[
            "sh",
            "-c",
            "stat -c %u:%g /own/f /shared/f /plain/f; touch /own/new && stat -c %u:%g /own/new",
        ],
    );
    applets(&b, &["stat", "touch"]);
    let host = b.dir.path().join("hostdata");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("f"), "x").unwrap();
    let owner = |p: &Path, id: u32| {
        nix::unistd::chown(
            p,
            Some(nix::unistd::Uid::from_raw(id)),
            Some(nix::unistd::Gid::from_raw(id)),
        )
        .unwrap()
    };
    owner(&host, 1234);
    owner(&host.join("f"), 1234);
    let one = json!([{"containerID": 1234, "hostID": HOST_ID, "size": 1}]);
    let mut cfg = b.config();
    let mounts = cfg["mounts"].as_array_mut().unwrap();
    // Its own mapping: host 1234 is container root's host id, so root.
    mounts.push(
        json!({"destination": "/own", "type": "bind", "source": host,
        "options": ["bind", "idmap"], "uidMappings": one, "gidMappings": one}),
    );
    // No mapping of its own: the container's, so 1234 stays 1234.
    mounts.push(json!({"destination": "/shared", "type": "bind", "source": host, "options": ["bind", "idmap"]}));
    // Not id-mapped: host 1234 has no id in the container (overflow id).
    mounts.push(
        json!({"destination": "/plain", "type": "bind", "source": host, "options": ["bind"]}),
    );
    b.write_config(cfg);

    let out = b.run_to_exit();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["0:0", "1234:1234", "65534:65534", "0:0"],
        "{out}"
    );
    // The container's root wrote through the mapping: host owner 1234.
    let meta = std::fs::metadata(host.join("new")).unwrap();
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&meta),
            std::os::unix::fs::MetadataExt::gid(&meta)
        ),
        (1234, 1234)
    );
}

#[test]
fn idmap_without_mappings_or_user_namespace_is_refused_naming_the_mount() {
    if !is_root() {
        return;
    }
    let b = Bundle::new("idmap-refused", &["true"]);
    add_mount(
        &b,
        json!({"destination": "/m", "type": "bind", "source": b.dir.path(), "options": ["bind", "idmap"]}),
    );
    let out = b.create();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/m") && err.contains("without a user namespace"),
        "{err}"
    );
    assert!(
        !b.root.join(&b.id).exists(),
        "a refused create leaves no state"
    );
}

#[test]
fn features_advertise_recursive_options_and_idmap() {
    let out = Command::new(bin()).arg("features").output().unwrap();
    let f: Value = serde_json::from_slice(&out.stdout).unwrap();
    let opts: Vec<&str> = f["mountOptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for o in ["rro", "rrw", "rnosuid", "rnosymfollow", "idmap", "ridmap"] {
        assert!(opts.contains(&o), "{o} missing from {opts:?}");
    }
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true);
}

#[test]
fn tmpcopyup_fills_the_tmpfs_with_what_it_covers() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new(
        "tmpcopyup",
        &[
            "sh",
            "-c",
            "cat /conf/sub/f; readlink /conf/link; stat -c %a /conf/sub/f; \
             echo new >/conf/added && echo writable",
        ],
    );
    applets(&b, &["stat"]);
    let conf = b.dir.path().join("rootfs/conf");
    std::fs::create_dir_all(conf.join("sub")).unwrap();
    std::fs::write(conf.join("sub/f"), "from-image\n").unwrap();
    std::fs::set_permissions(conf.join("sub/f"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", conf.join("link")).unwrap();
    add_mount(
        &b,
        json!({"destination": "/conf", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]}),
    );
    assert_eq!(b.run_to_exit(), "from-image\n/etc/passwd\n640\nwritable\n");
    assert!(!conf.join("added").exists(), "the write went to the tmpfs");
}
