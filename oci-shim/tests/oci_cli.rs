//! Root integration tests of command-line options beyond the verbs:
//! `--preserve-fds` and `LISTEN_FDS` on run/exec, and `--systemd-cgroup`
//! refused clearly where systemd does not run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

mod oci_harness;

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

use oci_harness::*;

/// A pipe whose read end carries `text` (already written, write end closed).
fn pipe_with(text: &str) -> OwnedFd {
    let (r, w) = nix::unistd::pipe().unwrap();
    nix::unistd::write(&w, text.as_bytes()).unwrap();
    r
}

/// Runs `cradle-oci <args>` with `fds[i]` as descriptor 3+i and `extra` as
/// descriptor 3+fds.len() (opened but not meant to be passed on).
fn oci_with_fds(b: &Bundle, args: &[&str], fds: &[OwnedFd], envs: &[(&str, &str)]) -> Output {
    let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let mut cmd = Command::new(bin());
    cmd.arg("--root")
        .arg(&b.root)
        .args(args)
        .envs(envs.iter().copied());
    // SAFETY: only async-signal-safe dup2 calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Move the sources out of the way first so dup2 cannot clobber one.
            let high: Vec<i32> = raw.iter().map(|fd| libc::dup(*fd)).collect();
            for (i, fd) in high.iter().enumerate() {
                if *fd < 0 || libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // Nothing else reaches cradle-oci (cargo's jobserver pipe, for
            // one, would fill the gaps the tests rely on).
            let first = 3 + high.len() as u32;
            if libc::syscall(
                libc::SYS_close_range,
                first,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn run_passes_preserved_descriptors_and_no_others() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new(
        "preserve",
        &[
            "sh",
            "-c",
            "cat <&3; cat <&4; cat <&5 2>/dev/null || echo no-fd5",
        ],
    );
    let fds = [
        pipe_with("three\n"),
        pipe_with("four\n"),
        pipe_with("five\n"),
    ];
    let bundle = b.dir.path().to_str().unwrap().to_string();
    let out = oci_with_fds(
        &b,
        &["run", "--bundle", &bundle, "--preserve-fds", "2", &b.id],
        &fds,
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "three\nfour\nno-fd5\n"
    );
}

#[test]
fn listen_fds_are_passed_with_their_environment() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new(
        "listen",
        &["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3; cat <&4"],
    );
    let fds = [pipe_with("socket\n"), pipe_with("extra\n")];
    let bundle = b.dir.path().to_str().unwrap().to_string();
    let out = oci_with_fds(
        &b,
        &["run", "--bundle", &bundle, "--preserve-fds", "1", &b.id],
        &fds,
        &[("LISTEN_FDS", "1")],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1 1\nsocket\nextra\n");
}

#[test]
fn preserving_a_descriptor_that_is_not_open_is_refused() {
    if !is_root() {
        return;
    }
    let b = Bundle::new("preserve-gap", &["true"]);
    let fds = [pipe_with("x")];
    let bundle = b.dir.path().to_str().unwrap().to_string();
    let out = oci_with_fds(
        &b,
        &["create", "--bundle", &bundle, "--preserve-fds", "3", &b.id],
        &fds,
        &[],
    );
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--preserve-fds 3: descriptor 4 is not open"),
        "{err}"
    );
    assert!(!b.root.join(&b.id).exists());
}

#[test]
fn exec_passes_preserved_descriptors() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("exec-preserve", &["sleep", "100"]);
    assert!(b.create().status.success());
    let pid = b.pid();
    assert!(b.oci(&["start", &b.id]).status.success());
    let fds = [pipe_with("via-exec\n"), pipe_with("hidden\n")];
    let out = oci_with_fds(
        &b,
        &[
            "exec",
            "--preserve-fds",
            "1",
            &b.id,
            "sh",
            "-c",
            "cat <&3; cat <&4 2>/dev/null || echo no-fd4",
        ],
        &fds,
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "via-exec\nno-fd4\n");
    assert!(b.oci(&["delete", "--force", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 128 + 9);
}

#[test]
fn systemd_cgroup_without_systemd_is_refused_and_leaves_nothing() {
    if !is_root() {
        return;
    }
    let b = Bundle::new("systemd-cgroup", &["true"]);
    let mut cfg = b.config();
    let slice_path = format!("system.slice:cradle-test:{}", b.id);
    cfg["linux"]["cgroupsPath"] = slice_path.into();
    b.write_config(cfg);
    // features describes the runtime whatever the host: the driver is built in.
    let out = b.oci(&["--systemd-cgroup", "features"]);
    assert!(out.status.success(), "{}", text(&out));
    let f: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(f["linux"]["cgroup"]["systemd"], true);
    assert_eq!(f["linux"]["cgroup"]["systemdUser"], false);
    if std::path::Path::new("/run/systemd/system").exists() {
        // A systemd host: the driver works there (cgroup_v2_host.rs).
        return;
    }
    let bundle = b.dir.path().to_str().unwrap().to_string();
    let out = b.oci(&["--systemd-cgroup", "create", "--bundle", &bundle, &b.id]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "systemd cgroup driver requested but systemd is not running (no /run/systemd/system)"
        ),
        "{err}"
    );
    assert!(!b.root.join(&b.id).exists(), "no state left");
    let scope = format!("system.slice/cradle-test-{}.scope", b.id);
    for entry in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let left = entry.path().join(&scope);
        assert!(!left.exists(), "{} left", left.display());
    }
}

#[test]
fn spec_writes_a_default_config_that_runs_and_never_overwrites_one() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("spec", &["true"]);
    let config = b.dir.path().join("config.json");
    std::fs::remove_file(&config).unwrap();
    let out = b.oci(&["spec", "--bundle", b.dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "spec: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cfg = b.config();
    assert_eq!(cfg["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(cfg["root"]["path"], "rootfs");
    let again = b.oci(&["spec", "--bundle", b.dir.path().to_str().unwrap()]);
    assert!(!again.status.success(), "an existing config.json is kept");
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    // As one would edit runc's: no terminal, a command, our cgroup.
    cfg["process"]["terminal"] = false.into();
    cfg["process"]["args"] = serde_json::json!(["sh", "-c", "echo from-spec"]);
    cfg["linux"]["cgroupsPath"] = b.cgroup.clone().into();
    b.write_config(cfg);
    assert_eq!(b.run_to_exit(), "from-spec\n");
}
