//! Differential tests: the same bundle run by Debian's runc and by
//! cradle-oci must look the same from inside. A probe script prints
//! what a workload can observe (ids, capabilities, no_new_privs, rlimits,
//! hostname, cwd, environment, the mount table's mount points, types and
//! security flags, and `/dev`), and the two outputs are compared line by
//! line. Skipped when not root or when runc is not installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

mod oci_harness;

use std::path::Path;
use std::process::Command;

use oci_harness::*;
use serde_json::{Value, json};

const RUNC: &str = "runc";

const PROBE: &str = r#"
id
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status
echo nofile $(ulimit -n) umask $(umask)
echo host $(hostname) cwd $(pwd) foo $FOO
awk '{o=","$4","; f=(o~/,ro,/)?"ro":"rw"; if(o~/,nosuid,/)f=f",nosuid"; if(o~/,nodev,/)f=f",nodev"; if(o~/,noexec,/)f=f",noexec"; print "mount", $2, $3, f}' /proc/self/mounts | sort
ls -1 /dev | sort | tr '\n' ' '
echo
"#;

fn have_runc() -> bool {
    Command::new(RUNC)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A bundle running the probe, with the applets it needs.
fn probe_bundle(name: &str) -> Bundle {
    let b = Bundle::new(name, &["sh", "-c", PROBE]);
    let bin = b.dir.path().join("rootfs/bin");
    for applet in ["awk", "sort", "ls", "tr", "pwd"] {
        let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
    }
    b
}

/// Output of the probe under cradle-oci (create, start, wait).
fn run_cradle(b: &Bundle) -> String {
    let out = b.create();
    assert!(
        out.status.success(),
        "cradle-oci create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = b.pid();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0, "probe failed: {}", b.container_stdout());
    assert!(b.oci(&["delete", &b.id]).status.success());
    b.container_stdout()
}

/// Output of the probe under runc (`run` in the foreground).
fn run_runc(b: &Bundle) -> String {
    let root = b.dir.path().join("runc-state");
    let id = format!("{}-runc", b.id);
    let out = Command::new(RUNC)
        .arg("--root")
        .arg(&root)
        .args(["run", "--bundle"])
        .arg(b.dir.path())
        .arg(&id)
        .output()
        .unwrap();
    let _ = Command::new(RUNC)
        .arg("--root")
        .arg(&root)
        .args(["delete", "--force", &id])
        .output();
    assert!(
        out.status.success(),
        "runc run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Lines that differ on purpose, with the reason.
const INTENDED: [(&str, &str); 1] = [(
    "mount /sys/fs/cgroup tmpfs ",
    "cradle-oci also makes the v1 cgroup tmpfs itself read-only when the mount asks for ro; runc 1.1 leaves it rw",
)];

/// Runs `cfg` under both runtimes (each with its own cgroup) and compares.
fn compare(name: &str, edit: impl Fn(&mut Value, &Path)) {
    if !is_root() || !have_runc() {
        cradle_testkit::skip(format!("{name}: needs root and runc"));
        return;
    }
    become_subreaper();
    let ours = probe_bundle(&format!("{name}-c"));
    let theirs = probe_bundle(&format!("{name}-r"));
    for b in [&ours, &theirs] {
        let mut cfg = b.config();
        edit(&mut cfg, b.dir.path());
        b.write_config(cfg);
    }
    let a = run_cradle(&ours);
    let r = run_runc(&theirs);
    // Bundle paths differ between the two; compare everything else.
    let norm = |s: &str, dir: &Path| {
        s.replace(&dir.display().to_string(), "<bundle>")
            .lines()
            .filter(|l| !INTENDED.iter().any(|(prefix, _)| l.starts_with(prefix)))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let a = norm(&a, ours.dir.path());
    let r = norm(&r, theirs.dir.path());
    let mut diff: Vec<String> = a
        .lines()
        .filter(|l| !r.lines().any(|x| x == *l))
        .map(|l| format!("only cradle-oci: {l}"))
        .collect();
    diff.extend(
        r.lines()
            .filter(|l| !a.lines().any(|x| x == *l))
            .map(|l| format!("only runc:       {l}")),
    );
    assert!(
        diff.is_empty(),
        "{name} differs:\n{}\n--- cradle-oci ---\n{a}\n--- runc ---\n{r}",
        diff.join("\n")
    );
}

#[test]
fn default_bundle_looks_the_same_under_runc() {
    compare("diff-default", |_, _| {});
}

#[test]
fn user_cwd_env_caps_and_rlimits_look_the_same_under_runc() {
    compare("diff-user", |cfg, _| {
        cfg["process"]["user"] =
            json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 23});
        cfg["process"]["cwd"] = json!("/tmp");
        cfg["process"]["env"] = json!(["PATH=/bin", "FOO=bar"]);
        cfg["process"]["noNewPrivileges"] = json!(false);
        let caps = json!(["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"]);
        cfg["process"]["capabilities"] = json!({"bounding": caps, "permitted": caps, "effective": ["CAP_KILL"], "inheritable": ["CAP_KILL"]});
        cfg["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]);
        cfg["root"]["readonly"] = json!(false);
    });
}

#[test]
fn bind_and_tmpfs_mounts_with_flags_look_the_same_under_runc() {
    compare("diff-mounts", |cfg, dir| {
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let mounts = cfg["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/data", "type": "bind", "source": data, "options": ["rbind", "ro", "nosuid"]}));
        mounts.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["noexec", "nodev", "size=1m"]}));
        cfg["linux"]["maskedPaths"] = json!(["/proc/kcore", "/proc/keys", "/sys/firmware"]);
        cfg["linux"]["readonlyPaths"] = json!(["/proc/sys", "/proc/bus"]);
    });
}
