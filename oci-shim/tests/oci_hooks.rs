//! Root integration tests of OCI hooks: every phase runs once, in order,
//! in the right mount namespace, with the right status in its state JSON;
//! failing hooks fail create and start and leave nothing behind, while a
//! failing poststop hook does not stop delete.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

mod oci_harness;

use std::path::Path;

use oci_harness::*;
use serde_json::{Value, json};

const PHASES: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// A hook appending `<phase> <mount ns> "status":"<status>"` to `log`.
fn hook(phase: &str, log: &str) -> Value {
    let script = format!(
        "s=$(cat); echo \"$0 $(readlink /proc/self/ns/mnt) $(echo $s | grep -o '\"status\":\"[a-z]*\"')\" >>{log}"
    );
    json!({"path": "/bin/sh", "args": ["sh", "-c", script, phase], "env": ["PATH=/bin:/usr/bin"]})
}

fn with_hooks(b: &Bundle, logdir: &Path, hooks: Value) {
    let mut cfg = b.config();
    cfg["hooks"] = hooks;
    cfg["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/hooklog", "type": "bind", "source": logdir, "options": ["rbind", "rw"]}));
    b.write_config(cfg);
}

fn all_hooks(logdir: &Path) -> Value {
    let host = logdir.join("log").display().to_string();
    let mut hooks = serde_json::Map::new();
    for phase in PHASES {
        // After pivot_root the host path is gone: startContainer writes
        // through the bind mount.
        let log = if phase == "startContainer" {
            "/hooklog/log".to_string()
        } else {
            host.clone()
        };
        hooks.insert(phase.to_string(), json!([hook(phase, &log)]));
    }
    Value::Object(hooks)
}

#[test]
fn hooks_run_in_order_in_their_namespaces_with_the_state() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("hooks", &["true"]);
    let logdir = tempfile::tempdir().unwrap();
    with_hooks(&b, logdir.path(), all_hooks(logdir.path()));
    let pid = b.create_ok();
    let out = b.oci(&["start", &b.id]);
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(wait_exit(pid), 0);
    let out = b.oci(&["delete", &b.id]);
    assert!(
        out.status.success(),
        "delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let host_mnt = ns_link("/proc/self/ns/mnt");
    let log = std::fs::read_to_string(logdir.path().join("log")).unwrap();
    let lines: Vec<Vec<&str>> = log.lines().map(|l| l.split(' ').collect()).collect();
    let phases: Vec<&str> = lines.iter().map(|l| l[0]).collect();
    assert_eq!(phases, PHASES, "{log}");
    // prestart reads `created`, as under crun and as runtime-tools'
    // hooks_stdin checks; createRuntime `creating` (see oci::process::main_process).
    let status = [
        "created", "creating", "creating", "created", "running", "stopped",
    ];
    for (line, want) in lines.iter().zip(status) {
        assert_eq!(line[2], format!("\"status\":\"{want}\""), "{log}");
        let in_container = line[0] == "createContainer" || line[0] == "startContainer";
        assert_eq!(
            line[1] != host_mnt,
            in_container,
            "namespace of {}: {log}",
            line[0]
        );
    }
}

#[test]
fn a_failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    if !is_root() {
        return;
    }
    let b = Bundle::new("hookfail", &["true"]);
    let logdir = tempfile::tempdir().unwrap();
    with_hooks(
        &b,
        logdir.path(),
        json!({
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo no way >&2; exit 7"]}],
            "poststop": [hook("poststop", &logdir.path().join("log").display().to_string())]
        }),
    );
    let out = b.create();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("createRuntime hook #0") && err.contains("no way"),
        "{err}"
    );
    assert!(!b.root.join(&b.id).exists(), "state left behind");
    assert!(
        b.cgroup_dirs().iter().all(|d| !d.exists()),
        "cgroup left behind"
    );
}

#[test]
fn a_failing_start_container_hook_fails_start_and_poststop_failures_only_warn() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("hookstart", &["true"]);
    let logdir = tempfile::tempdir().unwrap();
    with_hooks(
        &b,
        logdir.path(),
        json!({
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 1"]}],
            "poststop": [{"path": "/nonexistent/hook"}]
        }),
    );
    let pid = b.create_ok();
    assert!(
        !b.oci(&["start", &b.id]).status.success(),
        "start must fail"
    );
    assert_eq!(wait_exit(pid), 1);
    let out = b.oci(&["delete", &b.id]);
    assert!(
        out.status.success(),
        "delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("poststop hook #0"));
}

#[test]
fn config_changes_after_create_do_not_affect_start_or_the_hooks() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("hookcfg", &["true"]);
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("log").display().to_string();
    with_hooks(
        &b,
        logdir.path(),
        json!({"poststart": [hook("poststart", &log)], "poststop": [hook("poststop", &log)]}),
    );
    let pid = b.create_ok();
    // As runtime-tools' config_updates_without_affect: a config that is no
    // longer a valid one (no process, no root, no hooks).
    b.write_config(json!({"ociVersion": "1.0.0"}));
    let out = b.oci(&["start", &b.id]);
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(wait_exit(pid), 0);
    let out = b.oci(&["delete", &b.id]);
    assert!(
        out.status.success(),
        "delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let phases: Vec<&str> = text.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(phases, ["poststart", "poststop"], "{text}");
}

#[test]
fn a_failing_poststart_hook_warns_and_the_rest_and_the_lifecycle_continue() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("hookpoststart", &["sh", "-c", "echo ran"]);
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("log").display().to_string();
    with_hooks(
        &b,
        logdir.path(),
        json!({"poststart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "echo refused >&2; exit 3"]},
            hook("poststart", &log)
        ]}),
    );
    let pid = b.create_ok();
    let out = b.oci(&["start", &b.id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "start: {err}");
    assert!(
        err.contains("poststart hook #0") && err.contains("refused"),
        "the warning names the hook and quotes it: {err}"
    );
    assert_eq!(wait_exit(pid), 0, "the container was not killed");
    assert_eq!(b.container_stdout(), "ran\n");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.starts_with("poststart "),
        "the second hook ran: {text}"
    );
    assert!(b.oci(&["delete", &b.id]).status.success());
}
