//! What containerd's `containerd-shim-runc-v2` (go-runc) expects of the
//! binary it runs as `runc`, beyond the verbs themselves: the words of
//! errors it matches on, the JSON log it reads the last error from, and the
//! session keyring runc gives each container. The end-to-end proof is
//! `tests/tests/containerd_compat.rs`; these pin each piece. Root only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

mod oci_harness;

use oci_harness::{Bundle, become_subreaper, is_root, wait_exit};

/// The shim kills a task whose init already exited (`kill ID 9`, then
/// `kill --all ID 9` while stopping a pod) and treats runc's "container not
/// running" as done: any other wording fails StopPodSandbox for good.
#[test]
fn kill_of_a_stopped_container_says_container_not_running_and_kill_all_is_a_no_op() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("ctd-kill", &["sleep", "100"]);
    assert!(b.create().status.success());
    let pid = b.pid();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert!(b.oci(&["kill", &b.id, "9"]).status.success());
    assert_eq!(wait_exit(pid), 128 + 9);

    let out = b.oci(&["kill", &b.id, "9"]);
    assert!(
        !out.status.success(),
        "kill of a stopped container succeeded"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("container not running"), "{err}");

    let out = b.oci(&["kill", "--all", &b.id, "9"]);
    assert!(
        out.status.success(),
        "kill --all of a stopped container: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(b.oci(&["delete", &b.id]).status.success());

    let out = b.oci(&["kill", &b.id, "9"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not exist"), "{err}");
}

/// The `_ses.<id>` lines of the host's /proc/keys (root sees every key
/// owned by root with the owner's view permission).
fn session_keyrings(id: &str) -> Vec<String> {
    let name = format!("_ses.{id}");
    std::fs::read_to_string("/proc/keys")
        .unwrap_or_default()
        .lines()
        // serial flags usage timeout perm uid gid type description[: summary]
        .filter(|l| l.split_whitespace().nth(8).map(|d| d.trim_end_matches(':')) == Some(&name))
        .map(str::to_string)
        .collect()
}

/// runc's default, which containerd's shim keeps (it passes no
/// `--no-new-keyring`): the container does not inherit the caller's
/// session keyring but gets `_ses.<id>`, searchable by its owner; `exec`
/// joins it. `--no-new-keyring` keeps the caller's.
#[test]
fn containers_get_a_session_keyring_of_their_own_unless_no_new_keyring() {
    if !is_root() || !std::path::Path::new("/proc/keys").exists() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("ctd-keyring", &["sleep", "100"]);
    let pid = b.create_ok();
    let rings = session_keyrings(&b.id);
    assert_eq!(
        rings.len(),
        1,
        "no session keyring _ses.{}: {rings:?}",
        b.id
    );
    let perm = rings[0].split_whitespace().nth(4).unwrap_or_default();
    let perm = u32::from_str_radix(perm, 16).unwrap();
    assert_ne!(
        perm & 0x0008_0000,
        0,
        "not searchable by its owner: {rings:?}"
    );
    assert!(b.oci(&["start", &b.id]).status.success());
    let out = b.oci(&["exec", &b.id, "true"]);
    assert!(
        out.status.success(),
        "exec joining the keyring: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(b.oci(&["kill", &b.id, "9"]).status.success());
    assert_eq!(wait_exit(pid), 128 + 9);
    assert!(b.oci(&["delete", &b.id]).status.success());

    // Another id: the kernel collects the dead one's keyring only later.
    let b = Bundle::new("ctd-no-keyring", &["sleep", "100"]);
    let out = b.create_with(&["--no-new-keyring"]);
    assert!(
        out.status.success(),
        "create --no-new-keyring: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = b.pid();
    assert!(
        session_keyrings(&b.id).is_empty(),
        "--no-new-keyring made one: {:?}",
        session_keyrings(&b.id)
    );
    assert!(b.oci(&["start", &b.id]).status.success());
    assert!(b.oci(&["exec", &b.id, "true"]).status.success());
    assert!(b.oci(&["kill", &b.id, "9"]).status.success());
    assert_eq!(wait_exit(pid), 128 + 9);
}

/// The shim runs every verb with `--log <task dir>/log.json --log-format
/// json` and, when one fails, reports the `msg` of the last object whose
/// `level` is "error" (decoding `time` as RFC 3339: a line it cannot decode
/// turns the reason into "unable to retrieve OCI runtime error").
#[test]
fn failures_are_logged_as_json_objects_containerds_shim_can_decode() {
    if !is_root() {
        return;
    }
    let b = Bundle::new("ctd-log", &["/bin/does-not-exist"]);
    let log = b.dir.path().join("log.json");
    let out = std::process::Command::new(oci_harness::bin())
        .arg("--root")
        .arg(&b.root)
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "create", "--bundle"])
        .arg(b.dir.path())
        .arg(&b.id)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "create of a missing executable succeeded"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let mut last_error = None;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object a line: {line:?}: {e}"));
        let time = v["time"].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(time).is_ok(),
            "time is not RFC 3339: {line}"
        );
        if v["level"] == "error" {
            last_error = v["msg"].as_str().map(str::to_string);
        }
    }
    let msg = last_error.unwrap_or_else(|| panic!("no error in the log: {text:?}"));
    assert!(msg.contains("does-not-exist"), "{msg}");
}
