//! What containerd's `containerd-shim-runc-v2` (go-runc) expects of the
//! binary it runs as `runc`, beyond the verbs themselves: the words of
//! errors it matches on, the JSON log it reads the last error from, and the
//! session keyring runc gives each container. The end-to-end proof is
//! `tests/tests/containerd_compat.rs`; these pin each piece. Root only.

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
