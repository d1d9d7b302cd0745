//! The shared harness of the `cradle-shim` integration tests: a protocol
//! client, guards that end the shim and the runtime's container even when an
//! assertion fails, busybox bundles from `runc spec`, and the container cases
//! that run against any runc-compatible runtime (`shim_lifecycle.rs` with
//! runc, `oci_shim_compat.rs` with cradle-oci).
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test-only helpers: a failed unwrap or expect fails the test that called it"
)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cradle_proto::shim::{
    EXIT_FILE, ExitRecord, INIT_PID_FILE, ProcessStatus, Request, Response, SHIM_PID_FILE,
    SOCKET_FILE, decode, encode,
};

pub const RUNC: &str = "/usr/sbin/runc";

/// Our launcher: `CRADLE_OCI_BIN` when set (hack/test.sh points it at the
/// static build that ships), else the one cargo built.
pub fn cradle_oci() -> String {
    std::env::var("CRADLE_OCI_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_cradle-oci").into())
}
pub const BUSYBOX: &str = "/usr/bin/busybox";

pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A protocol client over the shim's socket.
pub struct Client {
    pub writer: UnixStream,
    pub reader: BufReader<UnixStream>,
}

impl Client {
    pub fn connect(state_dir: &Path) -> Client {
        let stream = cradle_shim::sockpath::connect(&state_dir.join(SOCKET_FILE)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    pub fn call(&mut self, request: Request) -> Response {
        self.writer.write_all(&encode(&request)).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        decode(line.as_bytes()).unwrap_or_else(|e| panic!("bad response {line:?}: {e}"))
    }

    pub fn state(&mut self) -> cradle_proto::shim::ShimState {
        match self.call(Request::State) {
            Response::State(state) => state,
            other => panic!("State answered {other:?}"),
        }
    }

    pub fn wait(&mut self) -> ExitRecord {
        match self.call(Request::Wait) {
            Response::Exited(record) => record,
            other => panic!("Wait answered {other:?}"),
        }
    }
}

pub fn shim_pid(state_dir: &Path) -> Option<i32> {
    fs::read_to_string(state_dir.join(SHIM_PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills a shim left running by a failed test (SIGKILL; the shim ignores TERM).
pub struct ShimGuard {
    pub state_dir: PathBuf,
    pub shim_pid: Option<i32>,
}

impl Drop for ShimGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.shim_pid.or_else(|| shim_pid(&self.state_dir))
            && alive(pid)
        {
            // SAFETY: signalling a pid that this test's shim wrote; SIGKILL has no handler.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        // A failed test also leaves the shim's child (the pause process)
        // running: it outlives the shim.
        let init = fs::read_to_string(self.state_dir.join(INIT_PID_FILE));
        if std::thread::panicking()
            && let Some(pid) = init.ok().and_then(|p| p.trim().parse::<i32>().ok())
            && alive(pid)
        {
            // SAFETY: signalling the pid this test's shim wrote for its child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Removes the OCI runtime's container if a failed test left it.
pub struct RuncGuard {
    pub runtime: String,
    pub root: PathBuf,
    pub id: String,
}

impl Drop for RuncGuard {
    fn drop(&mut self) {
        let _ = Command::new(&self.runtime)
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .output();
    }
}

pub fn make_bundle(bundle: &Path, args: &[&str]) {
    fs::create_dir_all(bundle.join("rootfs/bin")).unwrap();
    fs::copy(BUSYBOX, bundle.join("rootfs/bin/busybox")).unwrap();
    let status = Command::new(RUNC)
        .args(["spec", "--bundle"])
        .arg(bundle)
        .status()
        .unwrap();
    assert!(status.success(), "runc spec failed");
    let path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    config["process"]["args"] = serde_json::json!(args);
    config["process"]["terminal"] = serde_json::json!(false);
    config["root"]["readonly"] = serde_json::json!(false);
    fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

pub fn run_shim(args: &[&std::ffi::OsStr]) -> std::process::Output {
    // `CRADLE_SHIM_BIN`: the build that ships (hack/test.sh sets it).
    let shim = std::env::var("CRADLE_SHIM_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_cradle-shim").into());
    Command::new(shim).args(args).output().unwrap()
}

/// Runs `cradle-shim container` for container `id` of `bundle` under the OCI
/// `runtime` (state under `root`), with `extra` arguments such as
/// `--log-path FILE` or `--stdin`.
pub fn run_container_shim(
    id: &str,
    bundle: &Path,
    runtime: &str,
    root: &Path,
    state_dir: &Path,
    extra: &[&std::ffi::OsStr],
) -> std::process::Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "container".as_ref(),
        "--id".as_ref(),
        id.as_ref(),
        "--bundle".as_ref(),
        bundle.as_os_str(),
        "--runtime".as_ref(),
        runtime.as_ref(),
        "--runtime-root".as_ref(),
        root.as_os_str(),
        "--state-dir".as_ref(),
        state_dir.as_os_str(),
    ];
    args.extend_from_slice(extra);
    run_shim(&args)
}

pub fn container_runs_logs_exits_and_is_deleted(runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let root = dir.path().join("runc-root");
    let state_dir = dir.path().join("state");
    let log_path = dir.path().join("logs/0.log");
    let id = unique("shimtest");
    make_bundle(
        &bundle,
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "echo hello; echo oops >&2; exit 3",
        ],
    );
    let _runc = RuncGuard {
        runtime: runtime.to_string(),
        root: root.clone(),
        id: id.clone(),
    };
    let mut shim = ShimGuard {
        state_dir: state_dir.clone(),
        shim_pid: None,
    };

    let output = run_container_shim(
        &id,
        &bundle,
        runtime,
        &root,
        &state_dir,
        &["--log-path".as_ref(), log_path.as_os_str()],
    );
    assert!(
        output.status.success(),
        "shim failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    shim.shim_pid = shim_pid(&state_dir);
    assert!(state_dir.join(INIT_PID_FILE).exists());

    let mut client = Client::connect(&state_dir);
    let created = client.state();
    assert_eq!(created.status, ProcessStatus::Created);
    assert!(created.pid > 0);
    assert_eq!(client.call(Request::Start), Response::Ok);
    let record = client.wait();
    assert_eq!(record.exit_code, 3);
    assert_eq!(record.signal, None);
    let exited = client.state();
    assert_eq!(exited.status, ProcessStatus::Exited);
    assert!(exited.started_at_ns.is_some());
    assert_eq!(
        client.call(Request::Kill {
            signal: 15,
            all: false
        }),
        Response::Ok
    );

    let log = fs::read_to_string(&log_path).unwrap();
    assert!(
        log.lines().any(|l| l.ends_with(" stdout F hello")),
        "log: {log}"
    );
    assert!(
        log.lines().any(|l| l.ends_with(" stderr F oops")),
        "log: {log}"
    );
    let recorded: ExitRecord = decode(&fs::read(state_dir.join(EXIT_FILE)).unwrap()).unwrap();
    assert_eq!(recorded, record);

    assert_eq!(client.call(Request::Delete { force: false }), Response::Ok);
    eventually("the socket to go", || !state_dir.join(SOCKET_FILE).exists());
    let pid = shim.shim_pid.unwrap();
    eventually("the shim to exit", || !alive(pid));
    let list = Command::new(runtime)
        .arg("--root")
        .arg(&root)
        .args(["list", "-q"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), "");
}

pub fn running_container_is_killed_by_forced_delete(runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let root = dir.path().join("runc-root");
    let state_dir = dir.path().join("state");
    let id = unique("shimkill");
    make_bundle(&bundle, &["/bin/busybox", "sleep", "1000"]);
    let _runc = RuncGuard {
        runtime: runtime.to_string(),
        root: root.clone(),
        id: id.clone(),
    };
    let mut shim = ShimGuard {
        state_dir: state_dir.clone(),
        shim_pid: None,
    };
    let output = run_container_shim(&id, &bundle, runtime, &root, &state_dir, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    shim.shim_pid = shim_pid(&state_dir);
    let mut client = Client::connect(&state_dir);
    assert_eq!(client.call(Request::Start), Response::Ok);
    assert_eq!(client.state().status, ProcessStatus::Running);
    assert!(matches!(
        client.call(Request::Delete { force: false }),
        Response::Error { .. }
    ));
    // A second client parks a Wait before the forced Delete.
    let mut waiter = Client::connect(&state_dir);
    assert_eq!(waiter.state().status, ProcessStatus::Running);
    waiter.writer.write_all(&encode(&Request::Wait)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(client.call(Request::Delete { force: true }), Response::Ok);
    let mut line = String::new();
    waiter.reader.read_line(&mut line).unwrap();
    let Response::Exited(record) = decode(line.as_bytes()).unwrap() else {
        panic!("Wait answered {line}");
    };
    assert_eq!(record.exit_code, 137);
    assert_eq!(record.signal, Some(9));
    eventually("the socket to go", || !state_dir.join(SOCKET_FILE).exists());
}

pub fn oom_killed_container_is_recorded_as_oom_killed(runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let root = dir.path().join("runc-root");
    let state_dir = dir.path().join("state");
    let id = unique("shimoom");
    // busybox `tail` keeps the newline-free stream of /dev/zero in memory.
    make_bundle(&bundle, &["/bin/busybox", "tail", "/dev/zero"]);
    let path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    config["linux"]["cgroupsPath"] = serde_json::json!(format!("/{id}"));
    config["linux"]["resources"]["memory"] = serde_json::json!({"limit": 32 << 20});
    fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let _runc = RuncGuard {
        runtime: runtime.to_string(),
        root: root.clone(),
        id: id.clone(),
    };
    let mut shim = ShimGuard {
        state_dir: state_dir.clone(),
        shim_pid: None,
    };
    let output = run_container_shim(&id, &bundle, runtime, &root, &state_dir, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    shim.shim_pid = shim_pid(&state_dir);
    let mut client = Client::connect(&state_dir);
    assert_eq!(client.call(Request::Start), Response::Ok);
    let record = client.wait();
    assert_eq!(record.exit_code, 137);
    assert!(record.oom_killed, "{record:?}");
    assert_eq!(client.call(Request::Delete { force: false }), Response::Ok);
    eventually("the socket to go", || !state_dir.join(SOCKET_FILE).exists());
}

pub fn failed_create_reports_the_error_and_leaves_nothing_behind(runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("empty-bundle");
    fs::create_dir_all(&bundle).unwrap();
    let root = dir.path().join("runc-root");
    let state_dir = dir.path().join("state");
    let id = unique("shimfail");
    let _runc = RuncGuard {
        runtime: runtime.to_string(),
        root: root.clone(),
        id: id.clone(),
    };
    let _shim = ShimGuard {
        state_dir: state_dir.clone(),
        shim_pid: None,
    };
    let output = run_container_shim(&id, &bundle, runtime, &root, &state_dir, &[]);
    // The runtime ran and refused (no config.json): its own exit status.
    assert_eq!(
        output.status.code(),
        Some(cradle_proto::shim::EXIT_CREATE_REFUSED),
        "{output:?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("create"), "stderr: {stderr}");
    for file in [SOCKET_FILE, SHIM_PID_FILE, INIT_PID_FILE] {
        assert!(!state_dir.join(file).exists(), "{file} left behind");
    }
}

/// A container under a shim (spawned, not started), with its guards.
pub struct Shimmed {
    _dir: tempfile::TempDir,
    pub state_dir: PathBuf,
    pub log_path: PathBuf,
    pub client: Client,
    _shim: ShimGuard,
    _runc: RuncGuard,
}

/// Spawns a container shim (`--log-path` plus `extra`) over a busybox
/// bundle running `args`, on a terminal when `terminal`; `None` (the test
/// skips) without root.
pub fn spawn_shimmed(
    name: &str,
    runtime: &str,
    args: &[&str],
    terminal: bool,
    extra: &[&str],
) -> Option<Shimmed> {
    spawn_shimmed_in(name, runtime, args, terminal, extra, |d| d.join("state"))
}

/// A state dir of exactly `len` bytes under `dir`: as the shim nests its
/// sockets `<state dir>/shims/<64-hex id>/` under cradled's, anything much
/// over 25 bytes used to be too long for `sun_path`.
pub fn long_state_dir(dir: &Path, len: usize) -> PathBuf {
    let mut path = dir.join("state-");
    while path.as_os_str().len() < len {
        path.as_mut_os_string().push("x");
    }
    assert_eq!(
        path.as_os_str().len(),
        len,
        "{} too long already",
        dir.display()
    );
    path
}

/// [`spawn_shimmed`] with the shim's state dir chosen by `state_dir_in`
/// (given the test's temp dir).
pub fn spawn_shimmed_in(
    name: &str,
    runtime: &str,
    args: &[&str],
    terminal: bool,
    extra: &[&str],
    state_dir_in: impl Fn(&Path) -> PathBuf,
) -> Option<Shimmed> {
    if !nix::unistd::geteuid().is_root() {
        cradle_testkit::skip("needs root");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let root = dir.path().join("runc-root");
    let state_dir = state_dir_in(dir.path());
    let log_path = dir.path().join("logs/0.log");
    let id = unique(name);
    make_bundle(&bundle, args);
    if terminal {
        let path = bundle.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        config["process"]["terminal"] = serde_json::json!(true);
        fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    }
    let runc = RuncGuard {
        runtime: runtime.to_string(),
        root: root.clone(),
        id: id.clone(),
    };
    let mut shim = ShimGuard {
        state_dir: state_dir.clone(),
        shim_pid: None,
    };
    let mut shim_args: Vec<&std::ffi::OsStr> = vec!["--log-path".as_ref(), log_path.as_os_str()];
    shim_args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    let output = run_container_shim(&id, &bundle, runtime, &root, &state_dir, &shim_args);
    assert!(
        output.status.success(),
        "shim failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    shim.shim_pid = shim_pid(&state_dir);
    let client = Client::connect(&state_dir);
    Some(Shimmed {
        _dir: dir,
        state_dir,
        log_path,
        client,
        _shim: shim,
        _runc: runc,
    })
}

/// A connection to the shim's attach socket, reads bounded by 10 s.
pub fn attach(state_dir: &Path) -> std::os::unix::net::UnixStream {
    let conn =
        cradle_shim::sockpath::connect(&state_dir.join(cradle_proto::shim::ATTACH_SOCKET_FILE))
            .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn
}

/// A container in the host's pid namespace whose init forked a child:
/// when the init is killed, the shim kills and reaps the child (it would
/// otherwise live on in the cgroup), and delete leaves no cgroup behind.
pub fn host_pid_leftovers_die_with_the_init(runtime: &str) {
    if !nix::unistd::geteuid().is_root() {
        cradle_testkit::skip("needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let root = dir.path().join("runc-root");
    let state_dir = dir.path().join("state");
    let id = unique("hostpid");
    make_bundle(
        &bundle,
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "/bin/busybox sleep 1000 & exec /bin/busybox sleep 1001",
        ],
    );
    let cgroup_path = format!("/cradle-test-{id}");
    let path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let namespaces = config["linux"]["namespaces"].as_array_mut().unwrap();
    namespaces.retain(|ns| ns["type"] != "pid");
    config["linux"]["cgroupsPath"] = serde_json::json!(cgroup_path);
    fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let _runc = RuncGuard {
        runtime: runtime.to_string(),
        root: root.clone(),
        id: id.clone(),
    };
    let mut shim = ShimGuard {
        state_dir: state_dir.clone(),
        shim_pid: None,
    };
    let output = run_container_shim(&id, &bundle, runtime, &root, &state_dir, &[]);
    assert!(
        output.status.success(),
        "shim failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    shim.shim_pid = shim_pid(&state_dir);
    let cgroup = cradle_shim::cgroups::Cgroup::new(&cgroup_path).unwrap();
    let mut client = Client::connect(&state_dir);
    let init = client.state().pid as i32;
    assert_eq!(client.call(Request::Start), Response::Ok);
    let mut procs = Vec::new();
    eventually("the init's child in the cgroup", || {
        procs = cgroup.processes().unwrap();
        procs.len() == 2
    });
    let child = procs.into_iter().find(|p| *p != init).unwrap();
    // SAFETY: signalling the init this test's shim reported.
    unsafe {
        libc::kill(init, libc::SIGKILL);
    }
    assert_eq!(client.wait().signal, Some(libc::SIGKILL));
    // Killed and reaped (by the shim, its subreaper), not left a zombie.
    eventually("the child to be killed and reaped", || {
        !Path::new(&format!("/proc/{child}")).exists()
    });
    assert_eq!(cgroup.processes().unwrap(), Vec::<i32>::new());
    assert_eq!(client.call(Request::Delete { force: false }), Response::Ok);
    for d in cgroup.dirs() {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}
