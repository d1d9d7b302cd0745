//! End-to-end tests of the `cradle-shim` binary: real containers through
//! runc (`/usr/sbin/runc`) and a real pause process in pinned namespaces.
//! They need root; each cleans up behind itself through guards, even on failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

mod shim_harness;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cradle_proto::shim::{
    INIT_PID_FILE, ProcessStatus, Request, Response, SHIM_PID_FILE, SOCKET_FILE,
};
use shim_harness::*;

#[test]
fn container_runs_logs_exits_and_is_deleted_through_runc() {
    shim_harness::container_runs_logs_exits_and_is_deleted(RUNC);
}

#[test]
fn running_container_is_killed_by_forced_delete() {
    shim_harness::running_container_is_killed_by_forced_delete(RUNC);
}

#[test]
fn oom_killed_container_is_recorded_as_oom_killed() {
    shim_harness::oom_killed_container_is_recorded_as_oom_killed(RUNC);
}

#[test]
fn failed_create_reports_the_error_and_leaves_nothing_behind() {
    shim_harness::failed_create_reports_the_error_and_leaves_nothing_behind(RUNC);
}

#[test]
fn host_pid_leftovers_die_with_the_init_under_runc() {
    shim_harness::host_pid_leftovers_die_with_the_init(RUNC);
}

/// Namespaces pinned by bind mounts, unmounted on drop.
struct Pins {
    files: Vec<PathBuf>,
}

impl Pins {
    fn create(dir: &Path) -> Pins {
        let files: Vec<PathBuf> = ["net", "ipc", "uts"].iter().map(|n| dir.join(n)).collect();
        for file in &files {
            fs::write(file, b"").unwrap();
        }
        let pins = Pins { files };
        let status = Command::new("unshare")
            .arg(format!("--net={}", pins.files[0].display()))
            .arg(format!("--ipc={}", pins.files[1].display()))
            .arg(format!("--uts={}", pins.files[2].display()))
            .arg("true")
            .status()
            .unwrap();
        assert!(status.success(), "unshare failed");
        pins
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        for file in &self.files {
            let _ = nix::mount::umount2(file.as_path(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

#[test]
fn sandbox_pause_joins_pinned_namespaces_and_cgroup_and_stops_on_term() {
    let dir = tempfile::tempdir().unwrap();
    let pins = Pins::create(dir.path());
    let state_dir = dir.path().join("state");
    let cgroup = format!("/{}", unique("cradle-shim-test"));
    let _shim = ShimGuard {
        state_dir: state_dir.clone(),
        shim_pid: None,
    };
    let output = run_shim(&[
        "sandbox".as_ref(),
        "--id".as_ref(),
        "sandbox-test".as_ref(),
        "--state-dir".as_ref(),
        state_dir.as_os_str(),
        "--netns".as_ref(),
        pins.files[0].as_os_str(),
        "--ipcns".as_ref(),
        pins.files[1].as_os_str(),
        "--utsns".as_ref(),
        pins.files[2].as_os_str(),
        "--cgroup".as_ref(),
        cgroup.as_ref(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let mut client = Client::connect(&state_dir);
    let state = client.state();
    assert_eq!(state.status, ProcessStatus::Running);
    let pid = state.pid;
    for (index, kind) in ["net", "ipc", "uts"].iter().enumerate() {
        let inside = fs::metadata(format!("/proc/{pid}/ns/{kind}"))
            .unwrap()
            .ino();
        let pinned = fs::metadata(&pins.files[index]).unwrap().ino();
        assert_eq!(inside, pinned, "{kind} namespace differs");
    }
    assert_eq!(
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "pause"
    );
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cgroups.contains(&cgroup), "cgroups: {cgroups}");
    assert_pause_shows_nothing_of_the_host(pid);
    assert_pause_is_init_of_its_own_pid_namespace(pid, &state_dir);
    assert_eq!(client.call(Request::Start), Response::Ok);
    // The shim outlives a SIGTERM meant for a stopping daemon's process group.
    let shim = shim_pid(&state_dir).unwrap();
    // SAFETY: signalling the shim this test started.
    unsafe {
        libc::kill(shim, libc::SIGTERM);
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(alive(shim), "the shim died of SIGTERM");
    assert_eq!(client.state().status, ProcessStatus::Running);

    assert_eq!(
        client.call(Request::Kill {
            signal: 15,
            all: false
        }),
        Response::Ok
    );
    let record = client.wait();
    assert_eq!(record.exit_code, 0);
    assert_eq!(record.signal, None);
    assert_eq!(client.call(Request::Delete { force: false }), Response::Ok);
    eventually("the socket to go", || !state_dir.join(SOCKET_FILE).exists());
    let leftovers: Vec<String> = cgroups
        .lines()
        .filter_map(|line| line.split(':').nth(1))
        .filter(|controllers| !controllers.is_empty())
        .map(|controllers| {
            let name = controllers.trim_start_matches("name=");
            format!("/sys/fs/cgroup/{name}{cgroup}")
        })
        .filter(|path| Path::new(path).exists())
        .collect();
    assert!(leftovers.is_empty(), "cgroup dirs left: {leftovers:?}");
}

/// What any process of the pod's pid namespace may read of the pause
/// names nothing of the host: its command line is `pause`, its environment
/// empty, its binary `/pause` in a root of its own, and it holds no fd but
/// stdio on /dev/null (the shim's were its state dir, sockets and log).
fn assert_pause_shows_nothing_of_the_host(pid: u32) {
    let proc = |what: &str| format!("/proc/{pid}/{what}");
    assert_eq!(fs::read(proc("cmdline")).unwrap(), b"pause\0");
    assert_eq!(fs::read(proc("environ")).unwrap(), b"");
    for (link, expected) in [("exe", "/pause"), ("root", "/"), ("cwd", "/")] {
        let target = fs::read_link(proc(link)).unwrap();
        assert_eq!(target, Path::new(expected), "{link}");
    }
    let root: Vec<String> = fs::read_dir(proc("root"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(root, ["pause"], "the pause's root holds only its binary");
    let mut fds: Vec<String> = fs::read_dir(proc("fd"))
        .unwrap()
        .map(|e| {
            fs::read_link(e.unwrap().path())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    fds.sort();
    assert_eq!(fds, ["/dev/null"; 3], "the pause's fds");
}

/// The pause process (reported by its host pid) is pid 1 of a pid namespace
/// of its own, which the pod's containers can join, and reaps the orphans
/// reparented to it there.
fn assert_pause_is_init_of_its_own_pid_namespace(pid: u32, state_dir: &Path) {
    let ns = |pid: &str| fs::metadata(format!("/proc/{pid}/ns/pid")).unwrap().ino();
    let shim = shim_pid(state_dir).unwrap();
    assert_ne!(ns(&pid.to_string()), ns(&shim.to_string()));
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert!(nspid.ends_with("\t1"), "{nspid}");
    // A shell entering the pod's pid namespace leaves an orphan behind,
    // reparented to the pause process, which must reap it.
    let status = Command::new("nsenter")
        .arg(format!("--target={pid}"))
        .args(["--pid", "--", "sh", "-c", "sleep 1 & exit 0"])
        .status()
        .unwrap();
    assert!(status.success(), "nsenter failed");
    let children = format!("/proc/{pid}/task/{pid}/children");
    let orphans = fs::read_to_string(&children).unwrap();
    assert!(!orphans.trim().is_empty(), "the orphan went elsewhere");
    eventually("the pause process to reap its orphan", || {
        fs::read_to_string(&children).unwrap().trim().is_empty()
    });
}

#[test]
fn sandbox_with_a_missing_namespace_fails_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let missing = dir.path().join("no-such-netns");
    let _shim = ShimGuard {
        state_dir: state_dir.clone(),
        shim_pid: None,
    };
    let output = run_shim(&[
        "sandbox".as_ref(),
        "--id".as_ref(),
        "sandbox-fail".as_ref(),
        "--state-dir".as_ref(),
        state_dir.as_os_str(),
        "--netns".as_ref(),
        missing.as_os_str(),
        "--ipcns".as_ref(),
        "/proc/self/ns/ipc".as_ref(),
        "--utsns".as_ref(),
        "/proc/self/ns/uts".as_ref(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-netns"), "stderr: {stderr}");
    for file in [SOCKET_FILE, SHIM_PID_FILE, INIT_PID_FILE] {
        assert!(!state_dir.join(file).exists(), "{file} left behind");
    }
}

/// Under the systemd driver the pause runs in the transient scope
/// `cri-cradle-<sandbox id>.scope` of the pod's slice, stopped by the
/// sandbox's delete; where systemd does not run the shim refuses it
/// before anything is made.
#[test]
fn sandbox_under_the_systemd_driver_runs_in_its_scope_or_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let id = unique("sandbox-scope");
    let cgroups_path = format!("system.slice:cri-cradle:{id}");
    let _shim = ShimGuard {
        state_dir: state_dir.clone(),
        shim_pid: None,
    };
    let systemd = Path::new("/run/systemd/system").is_dir();
    let pins = systemd.then(|| Pins::create(dir.path()));
    let ns = |index: usize, own: &str| -> PathBuf {
        pins.as_ref()
            .map_or_else(|| PathBuf::from(own), |p| p.files[index].clone())
    };
    let output = run_shim(&[
        "sandbox".as_ref(),
        "--id".as_ref(),
        id.as_ref(),
        "--state-dir".as_ref(),
        state_dir.as_os_str(),
        "--netns".as_ref(),
        ns(0, "/proc/self/ns/net").as_os_str(),
        "--ipcns".as_ref(),
        ns(1, "/proc/self/ns/ipc").as_os_str(),
        "--utsns".as_ref(),
        ns(2, "/proc/self/ns/uts").as_os_str(),
        "--cgroup".as_ref(),
        cgroups_path.as_ref(),
        "--systemd-cgroup".as_ref(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !systemd {
        assert!(!output.status.success(), "ran without systemd: {stderr}");
        assert!(
            stderr.contains("systemd is not running"),
            "stderr: {stderr}"
        );
        for file in [SOCKET_FILE, SHIM_PID_FILE, INIT_PID_FILE] {
            assert!(!state_dir.join(file).exists(), "{file} left behind");
        }
        return;
    }
    assert!(output.status.success(), "{stderr}");
    let unit = format!("cri-cradle-{id}.scope");
    let active = || {
        let out = Command::new("systemctl")
            .args(["show", "-p", "ActiveState", "--value", &unit])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "active"
    };
    let mut client = Client::connect(&state_dir);
    let pid = client.state().pid;
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cgroups.contains(&format!("/system.slice/{unit}")),
        "cgroups: {cgroups}"
    );
    assert!(active(), "{unit} is not active");
    let delete = Request::Delete { force: true };
    assert_eq!(client.call(delete), Response::Ok);
    eventually("the pause's scope to go", || !active());
}
