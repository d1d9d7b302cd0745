//! Root integration tests of `cradle-oci`'s core verbs with a busybox
//! bundle: the whole lifecycle, failure cleanup, kill and forced delete.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

mod oci_harness;

use std::process::Command;
use std::time::{Duration, Instant};

use oci_harness::*;
use serde_json::{Value, json};

#[test]
fn busybox_container_runs_through_create_start_state_delete() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new(
        "life",
        &[
            "sh",
            "-c",
            "echo hello; id -u; id -g; hostname; grep -E 'CapEff|NoNewPrivs' /proc/self/status; readlink /proc/self/ns/pid; echo pid=$$; id -G; pwd",
        ],
    );
    let mut cfg = b.config();
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [1001]});
    cfg["process"]["cwd"] = json!("/work/dir");
    cfg["root"]["readonly"] = json!(false);
    // A non-root user keeps capabilities across execve only through the
    // ambient set (which needs them inheritable too), as with runc.
    cfg["process"]["capabilities"]["inheritable"] = json!(["CAP_CHOWN", "CAP_KILL"]);
    cfg["process"]["capabilities"]["ambient"] = json!(["CAP_CHOWN", "CAP_KILL"]);
    b.write_config(cfg);

    let out = b.create();
    assert!(
        out.status.success(),
        "create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(b.state()["status"], "created");
    let pid = b.pid();
    assert_eq!(b.state()["pid"], pid);
    for dir in b.cgroup_dirs() {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "{} lacks {pid}",
            dir.display()
        );
    }
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
            .unwrap()
            .trim(),
        "100"
    );
    assert_eq!(b.container_stdout(), "", "user code ran before start");

    let out = b.oci(&["start", &b.id]);
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(wait_exit(pid), 0);
    assert_eq!(b.state()["status"], "stopped");

    let stdout = b.container_stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "hello");
    assert_eq!(lines[1], "1000");
    assert_eq!(lines[2], "1000");
    assert_eq!(lines[3], "cradle-test");
    assert_eq!(lines[8], "1000 1001", "supplementary groups");
    assert_eq!(lines[9], "/work/dir", "created working directory");
    assert!(stdout.contains("CapEff:\t0000000000000021"), "{stdout}");
    assert!(stdout.contains("NoNewPrivs:\t1"), "{stdout}");
    assert_ne!(
        lines[6],
        ns_link("/proc/self/ns/pid"),
        "pid namespace not new"
    );
    assert!(stdout.contains("pid=1"), "{stdout}");

    let out = b.oci(&["start", &b.id]);
    assert!(
        !out.status.success(),
        "start of a stopped container must fail"
    );
    let out = b.oci(&["kill", &b.id, "KILL"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not running"));

    let out = b.oci(&["delete", &b.id]);
    assert!(
        out.status.success(),
        "delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!b.root.join(&b.id).exists());
    for dir in b.cgroup_dirs() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    assert!(
        !b.oci(&["delete", &b.id]).status.success(),
        "delete of unknown id must fail"
    );
    assert!(b.oci(&["delete", "--force", &b.id]).status.success());
}

#[test]
fn missing_executable_fails_create_and_leaves_nothing() {
    if !is_root() {
        return;
    }
    let b = Bundle::new("noexec", &["/bin/does-not-exist"]);
    let out = b.create();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does-not-exist") && err.contains("executable"),
        "{err}"
    );
    assert!(!b.root.join(&b.id).exists(), "state dir left behind");
    assert!(!b.dir.path().join("pid").exists(), "pid file written");
    for dir in b.cgroup_dirs() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

/// A network namespace pinned with `unshare --net=<file>`, unmounted on drop.
#[test]
fn running_container_is_killed_and_force_deleted() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("kill", &["sleep", "100"]);
    assert!(b.create().status.success());
    let pid = b.pid();
    assert!(b.oci(&["start", &b.id]).status.success());
    wait_status(&b, "running");
    assert!(
        !b.oci(&["start", &b.id]).status.success(),
        "second start must fail"
    );

    let out = b.oci(&["ps", "--format", "json", &b.id]);
    let pids: Vec<i32> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pids, vec![pid]);
    let res = b.dir.path().join("resources.json");
    std::fs::write(&res, r#"{"pids":{"limit":42}}"#).unwrap();
    let out = b.oci(&["update", "--resources", res.to_str().unwrap(), &b.id]);
    assert!(
        out.status.success(),
        "update: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for dir in b
        .cgroup_dirs()
        .iter()
        .filter(|d| d.starts_with("/sys/fs/cgroup/pids"))
    {
        assert_eq!(
            std::fs::read_to_string(dir.join("pids.max"))
                .unwrap()
                .trim(),
            "42"
        );
    }
    let out = b.oci(&["delete", &b.id]);
    assert!(
        !out.status.success(),
        "delete of a running container needs --force"
    );
    assert!(b.oci(&["kill", &b.id, "SIGKILL"]).status.success());
    assert_eq!(wait_exit(pid), 128 + 9);
    assert_eq!(b.state()["status"], "stopped");
    assert!(b.oci(&["delete", &b.id]).status.success());

    // A second one, removed with --force while running (and --all kill).
    assert!(b.create().status.success());
    let pid = b.pid();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert!(b.oci(&["kill", "--all", &b.id, "CONT"]).status.success());
    let out = b.oci(&["delete", "--force", &b.id]);
    assert!(
        out.status.success(),
        "delete --force: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(wait_exit(pid), 128 + 9);
    assert!(!b.root.join(&b.id).exists());
    for dir in b.cgroup_dirs() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
fn features_and_bad_arguments() {
    let out = Command::new(bin()).arg("features").output().unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!("network"))
    );
    let out = Command::new(bin())
        .args(["--root", "/nonexistent-cradle", "state", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn every_capability_the_runtime_holds_is_granted_and_one_it_cannot_is_refused_by_name() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("allcaps", &["grep", "CapEff", "/proc/self/status"]);
    // Everything in this (root) test process's bounding set, which may be
    // less than the kernel's full set (this host's root lacks
    // CAP_SYS_RESOURCE).
    let bounding = caps::read(None, caps::CapSet::Bounding).unwrap();
    let held: Vec<String> = bounding.iter().map(|c| c.to_string()).collect();
    let mut cfg = b.config();
    for set in ["bounding", "effective", "permitted"] {
        cfg["process"]["capabilities"][set] = json!(held);
    }
    b.write_config(cfg.clone());
    let pid = b.create_ok();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let prm = status.lines().find(|l| l.starts_with("CapPrm:")).unwrap();
    let prm = prm.trim_start_matches("CapPrm:").trim();
    assert_eq!(b.container_stdout().trim(), format!("CapEff:\t{prm}"));
    assert!(b.oci(&["delete", &b.id]).status.success());

    // A runtime without CAP_SYS_NICE in its bounding set (dropped in the
    // child before exec, whatever this host holds) refuses a container
    // that asks for it, naming it, as runc and crun do.
    let out = {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(bin());
        cmd.arg("--root")
            .arg(&b.root)
            .args(["create", "--bundle"])
            .arg(b.dir.path())
            .arg(&b.id);
        // SAFETY: prctl only, between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                caps::drop(None, caps::CapSet::Bounding, caps::Capability::CAP_SYS_NICE)
                    .map_err(|e| std::io::Error::other(e.to_string()))
            });
        }
        // Files, not pipes: a container created all the same would hold
        // a pipe open and keep output() waiting.
        let errf = b.dir.path().join("create-stderr");
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&errf).unwrap());
        (cmd.status().unwrap(), std::fs::read(&errf).unwrap())
    };
    let err = String::from_utf8_lossy(&out.1);
    assert!(!out.0.success(), "create must fail: {err}");
    if held.iter().any(|c| c == "CAP_SYS_NICE") {
        assert!(
            err.contains(
                "process.capabilities.bounding: CAP_SYS_NICE (not in the runtime's bounding set)"
            ),
            "{err}"
        );
    }
    assert!(!b.root.join(&b.id).exists(), "nothing left behind");
}

/// Reads the tick file the container rewrites every 20 ms, through its root.
fn tick(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/root/tmp/tick")).unwrap_or_default()
}

#[test]
fn pause_freezes_every_process_and_resume_thaws_them() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new(
        "pause",
        &[
            "sh",
            "-c",
            "while true; do echo $$-$RANDOM >/tmp/tick; sleep 0.02; done",
        ],
    );
    assert!(b.create().status.success());
    let pid = b.pid();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert!(
        !b.oci(&["resume", &b.id]).status.success(),
        "resume of a running container"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while tick(pid).is_empty() {
        assert!(Instant::now() < deadline, "the container never wrote");
        std::thread::sleep(Duration::from_millis(10));
    }

    let out = b.oci(&["pause", &b.id]);
    assert!(
        out.status.success(),
        "pause: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(b.state()["status"], "paused");
    let frozen = tick(pid);
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(tick(pid), frozen, "a paused container kept running");
    let exec = b.oci(&["exec", &b.id, "true"]);
    assert!(!exec.status.success(), "exec into a paused container");
    assert!(!b.oci(&["pause", &b.id]).status.success(), "second pause");

    assert!(b.oci(&["resume", &b.id]).status.success());
    assert_eq!(b.state()["status"], "running");
    let deadline = Instant::now() + Duration::from_secs(5);
    while tick(pid) == frozen {
        assert!(
            Instant::now() < deadline,
            "resume did not thaw the container"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // A paused container can still be force-deleted.
    assert!(b.oci(&["pause", &b.id]).status.success());
    let out = b.oci(&["delete", "--force", &b.id]);
    assert!(
        out.status.success(),
        "delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(wait_exit(pid), 128 + 9);
    assert!(b.cgroup_dirs().iter().all(|d| !d.exists()));
}

#[test]
fn run_waits_returns_the_exit_status_and_deletes() {
    if !is_root() {
        return;
    }
    let b = Bundle::new("run", &["sh", "-c", "echo hi; exit 3"]);
    let out = Command::new(bin())
        .arg("--root")
        .arg(&b.root)
        .args(["run", "--bundle"])
        .arg(b.dir.path())
        .arg(&b.id)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert!(
        !b.root.join(&b.id).exists(),
        "run must delete the container"
    );
    assert!(b.cgroup_dirs().iter().all(|d| !d.exists()));
}

#[test]
fn container_process_starts_with_no_blocked_or_ignored_signal() {
    if !is_root() {
        return;
    }
    let b = Bundle::new(
        "signals",
        &["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"],
    );
    let mut cmd = Command::new(bin());
    cmd.arg("--root")
        .arg(&b.root)
        .args(["run", "--bundle"])
        .arg(b.dir.path())
        .arg(&b.id);
    // The runtime starts as under a shim: SIGTERM and SIGCHLD blocked (for
    // a signalfd), SIGPIPE ignored (as the Rust runtime does).
    // SAFETY: only async-signal-safe sigprocmask/signal calls between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, signal, sigprocmask};
            let mut set = SigSet::empty();
            set.add(Signal::SIGTERM);
            set.add(Signal::SIGCHLD);
            sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
            signal(Signal::SIGPIPE, SigHandler::SigIgn)?;
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
        "the container inherited the runtime's signal state"
    );
}

#[test]
fn hostname_and_domainname_are_set_in_the_containers_uts_namespace() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new(
        "uts",
        &["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"],
    );
    let mut cfg = b.config();
    cfg["hostname"] = json!("box");
    cfg["domainname"] = json!("example.test");
    b.write_config(cfg);
    assert_eq!(b.run_to_exit(), "box\nexample.test\n");
    let host = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    assert_ne!(host.trim(), "example.test", "the host's name changed");
}

#[test]
fn a_domainname_without_a_uts_namespace_is_refused_by_name() {
    if !is_root() {
        return;
    }
    let b = Bundle::new("nouts", &["true"]);
    let mut cfg = b.config();
    cfg["hostname"] = json!("");
    cfg["domainname"] = json!("example.test");
    let namespaces: Vec<Value> = cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ns| ns["type"] != "uts")
        .cloned()
        .collect();
    cfg["linux"]["namespaces"] = json!(namespaces);
    b.write_config(cfg);
    let out = b.create();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("domainname: setting it needs a UTS namespace"),
        "{stderr}"
    );
    assert!(!b.root.join(&b.id).exists(), "state left behind");
}

/// Device rules given to `update` join the ones in force (kept in the
/// state, so cgroup v2, whose eBPF program an update replaces whole, gets
/// all of them) and take effect: here on v1, a device becomes openable.
#[test]
fn update_adds_device_rules_to_those_in_force() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("devupd", &["sleep", "100"]);
    // /dev/loop-control (c 10:237), bind-mounted in: openable without any
    // capability, and allowed by no rule of the base config.
    let mut cfg = b.config();
    cfg["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/dev/loop-control", "type": "bind",
        "source": "/dev/loop-control", "options": ["bind"]
    }));
    b.write_config(cfg);
    assert!(b.create().status.success());
    assert!(b.oci(&["start", &b.id]).status.success());
    wait_status(&b, "running");
    let state_file = b.root.join(&b.id).join("state.json");
    let rules_in_state = || -> Vec<Value> {
        let st: Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
        st["deviceRules"].as_array().cloned().unwrap_or_default()
    };
    let before = rules_in_state();
    assert!(!before.is_empty(), "create records the rules it applied");
    let openable = || {
        b.oci(&["exec", &b.id, "sh", "-c", ": </dev/loop-control"])
            .status
            .success()
    };
    assert!(!openable(), "the base config does not allow c 10:237");

    let res = b.dir.path().join("devices.json");
    std::fs::write(
        &res,
        r#"{"devices":[{"allow":true,"type":"c","major":10,"minor":237,"access":"rwm"}]}"#,
    )
    .unwrap();
    let out = b.oci(&["update", "--resources", res.to_str().unwrap(), &b.id]);
    assert!(
        out.status.success(),
        "update: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = rules_in_state();
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(
        after[..before.len()],
        before[..],
        "earlier rules kept, in order"
    );
    assert_eq!(after.last().unwrap()["minor"], 237);
    assert!(openable(), "c 10:237 allowed by the update");
    assert!(b.oci(&["delete", "--force", &b.id]).status.success());
}

/// As runc's destroy: the init of a container without a pid namespace of
/// its own leaves its children in the cgroup when it dies; delete of the
/// stopped container kills them rather than failing on a busy cgroup.
#[test]
fn delete_of_a_stopped_host_pid_container_kills_what_outlived_its_init() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("hostpid-del", &["sh", "-c", "sleep 1000 & exec sleep 1001"]);
    let mut cfg = b.config();
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|ns| ns["type"] != "pid");
    b.write_config(cfg);
    let pid = b.create_ok();
    assert!(b.oci(&["start", &b.id]).status.success());
    let cg = cradle_shim::cgroups::Cgroup::new(&b.cgroup).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let child = loop {
        let procs = cg.processes().unwrap();
        if let Some(c) = procs.iter().find(|p| **p != pid) {
            break *c;
        }
        assert!(Instant::now() < deadline, "no child: {procs:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    assert_eq!(wait_exit(pid), 137);
    wait_status(&b, "stopped");
    let out = b.oci(&["delete", &b.id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The child was re-parented to this test (a subreaper): killed, it is ours to reap.
    assert_eq!(wait_exit(child), 137);
    for d in b.cgroup_dirs() {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

/// A caller that kills `cradle-oci exec` itself (a timeout) must not leave
/// the exec'd process running, orphaned to the host's init: it dies with it.
#[test]
fn an_exec_process_dies_with_its_killed_cradle_oci_exec() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("exec-dies", &["sleep", "1000"]);
    let pid = b.create_ok();
    assert!(b.oci(&["start", &b.id]).status.success());
    let pid_file = b.dir.path().join("exec.pid");
    let mut exec = Command::new(bin())
        .arg("--root")
        .arg(&b.root)
        .args(["exec", "--pid-file"])
        .arg(&pid_file)
        .args([&b.id, "sleep", "999"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pid_file.exists() {
        assert!(Instant::now() < deadline, "no pid file");
        std::thread::sleep(Duration::from_millis(20));
    }
    let process: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    exec.kill().unwrap();
    exec.wait().unwrap();
    // Orphaned to this test (a subreaper), it is ours to reap: killed.
    let process = nix::unistd::Pid::from_raw(process);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
        match waitpid(process, Some(WaitPidFlag::WNOHANG)).unwrap() {
            WaitStatus::StillAlive => {}
            status => {
                assert!(
                    matches!(
                        status,
                        WaitStatus::Signaled(_, nix::sys::signal::SIGKILL, _)
                    ),
                    "{status:?}"
                );
                break;
            }
        }
        if Instant::now() >= deadline {
            let _ = nix::sys::signal::kill(process, nix::sys::signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(process, None);
            panic!("the exec'd process outlived its cradle-oci exec");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(b.oci(&["delete", "--force", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 137);
}

/// runtime-tools' `killsig`, made deterministic: the container's init (pid
/// 1 of its namespace) traps the signal; `kill` by name, `SIG` name or
/// number reaches the trap, the container stops, and only then does a
/// plain delete succeed. (killsig itself sends the signal as soon as state
/// says running, sometimes before sh has run `trap`: the kernel discards a
/// signal to a namespace's init that has no handler for it, so the
/// container keeps running and the delete fails, under runc too.)
#[test]
fn kill_reaches_a_trapping_init_by_name_sig_name_or_number() {
    if !is_root() {
        return;
    }
    become_subreaper();
    for (arg, signo) in [("TERM", 15), ("SIGUSR1", 10), ("12", 12)] {
        let b = Bundle::new(
            "killsig",
            &[
                "sh",
                "-c",
                &format!("trap 'echo got > /got' {signo}; sleep 100 & wait $!"),
            ],
        );
        let mut cfg = b.config();
        cfg["root"]["readonly"] = json!(false);
        b.write_config(cfg);
        assert!(b.create().status.success());
        let pid = b.pid();
        assert!(b.oci(&["start", &b.id]).status.success());
        // Until sh has installed its handler (SigCgt), the signal would be
        // discarded by the kernel, not by us.
        let caught = |pid: i32| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            let mask = status
                .lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
                .unwrap();
            mask & (1 << (signo - 1)) != 0
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !caught(pid) {
            assert!(Instant::now() < deadline, "sh never trapped {signo}");
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = b.oci(&["delete", &b.id]);
        assert!(!out.status.success(), "a running container needs --force");
        let out = b.oci(&["kill", &b.id, arg]);
        assert!(
            out.status.success(),
            "kill {arg}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_exit(pid);
        assert_eq!(b.state()["status"], "stopped");
        assert_eq!(
            std::fs::read_to_string(b.dir.path().join("rootfs/got")).unwrap(),
            "got\n",
            "kill {arg} reached the trap"
        );
        let out = b.oci(&["delete", &b.id]);
        assert!(
            out.status.success(),
            "delete: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
