//! Root integration tests of `cradle-oci` with a busybox bundle: the whole
//! lifecycle, failure cleanup, joined namespaces, kill and forced delete.
//! Each test uses its own --root and cgroup, and a guard that force-deletes
//! the container even when an assertion fails.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_cradle-oci");

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Makes this test process the reaper of orphaned container inits, so
/// their exit status can be collected with waitpid.
fn become_subreaper() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
}

struct Bundle {
    dir: tempfile::TempDir,
    root: PathBuf,
    id: String,
    cgroup: String,
}

impl Bundle {
    fn new(name: &str, args: &[&str]) -> Bundle {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::set_permissions(&rootfs, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::copy("/usr/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for applet in [
            "sh", "echo", "cat", "id", "hostname", "grep", "readlink", "sleep", "true",
        ] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let id = format!("oci-{name}-{}", std::process::id());
        let cgroup = format!("/cradle-oci-test/{id}");
        let b = Bundle {
            root: dir.path().join("state"),
            dir,
            id,
            cgroup,
        };
        b.write_config(base_config(args, &b.cgroup));
        b
    }

    fn write_config(&self, cfg: Value) {
        std::fs::write(self.dir.path().join("config.json"), cfg.to_string()).unwrap();
    }

    fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir.path().join("config.json")).unwrap())
            .unwrap()
    }

    fn oci(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .output()
            .unwrap()
    }

    /// `create` with the container's stdio going to files in the bundle.
    fn create(&self) -> Output {
        self.create_with(&[])
    }

    /// `create` with extra arguments before the id.
    fn create_with(&self, extra: &[&str]) -> Output {
        let out = std::fs::File::create(self.dir.path().join("stdout")).unwrap();
        let err = std::fs::File::create(self.dir.path().join("stderr")).unwrap();
        let status = Command::new(BIN)
            .arg("--root")
            .arg(&self.root)
            .args(["create", "--bundle"])
            .arg(self.dir.path())
            .arg("--pid-file")
            .arg(self.dir.path().join("pid"))
            .args(extra)
            .arg(&self.id)
            .stdout(out)
            .stderr(err)
            .status()
            .unwrap();
        Output {
            status,
            stdout: std::fs::read(self.dir.path().join("stdout")).unwrap(),
            stderr: std::fs::read(self.dir.path().join("stderr")).unwrap(),
        }
    }

    fn container_stdout(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.path().join("stdout")).unwrap())
            .into_owned()
    }

    fn pid(&self) -> i32 {
        std::fs::read_to_string(self.dir.path().join("pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn state(&self) -> Value {
        let out = self.oci(&["state", &self.id]);
        assert!(
            out.status.success(),
            "state: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        cradle_shim::cgroups::Cgroup::new(&self.cgroup)
            .unwrap()
            .dirs()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = self.oci(&["delete", "--force", &self.id]);
        let _ = cradle_shim::cgroups::Cgroup::new(&self.cgroup).map(|c| c.remove());
        // The shared parent goes once the last test is done with it.
        for dir in self.cgroup_dirs() {
            if let Some(parent) = dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

fn base_config(args: &[&str], cgroup: &str) -> Value {
    let caps = json!(["CAP_CHOWN", "CAP_KILL"]);
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true,
            "oomScoreAdj": 100
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "cradle-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}
        ],
        "linux": {
            "cgroupsPath": cgroup,
            "resources": {
                "devices": [
                    {"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 136, "access": "rwm"}
                ],
                "memory": {"limit": 134217728},
                "pids": {"limit": 100}
            },
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

fn wait_exit(pid: i32) -> i32 {
    match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap() {
        nix::sys::wait::WaitStatus::Exited(_, code) => code,
        nix::sys::wait::WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        other => panic!("unexpected wait status {other:?}"),
    }
}

fn wait_status(b: &Bundle, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.state()["status"] != want {
        assert!(
            Instant::now() < deadline,
            "never reached {want}: {}",
            b.state()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ns_link(path: &str) -> String {
    std::fs::read_link(path)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

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
            "echo hello; id -u; id -g; hostname; grep -E 'CapEff|NoNewPrivs' /proc/self/status; readlink /proc/self/ns/pid; echo pid=$$",
        ],
    );
    let mut cfg = b.config();
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [1001]});
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
struct NetnsPin(PathBuf);
impl Drop for NetnsPin {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn container_joins_a_network_namespace_by_path() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("netns", &["readlink", "/proc/self/ns/net"]);
    let pin = NetnsPin(b.dir.path().join("netns"));
    std::fs::write(&pin.0, "").unwrap();
    let st = Command::new("unshare")
        .arg(format!("--net={}", pin.0.display()))
        .arg("true")
        .status()
        .unwrap();
    assert!(st.success());
    let ino = std::fs::metadata(&pin.0).unwrap().ino();
    let mut cfg = b.config();
    cfg["linux"]["namespaces"][1] = json!({"type": "network", "path": pin.0});
    b.write_config(cfg);

    let out = b.create();
    assert!(
        out.status.success(),
        "create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = b.pid();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0);
    assert_eq!(b.container_stdout().trim(), format!("net:[{ino}]"));
    assert!(b.oci(&["delete", &b.id]).status.success());
}

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
    let out = Command::new(BIN).arg("features").output().unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!("network"))
    );
    let out = Command::new(BIN)
        .args(["--root", "/nonexistent-cradle", "state", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let _ = Path::new("/");
}

#[test]
fn exec_runs_in_the_containers_namespaces_and_returns_its_status() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("exec", &["sleep", "100"]);
    assert!(b.create().status.success());
    let pid = b.pid();
    assert!(b.oci(&["start", &b.id]).status.success());
    wait_status(&b, "running");

    let out = b.oci(&[
        "exec",
        "--user",
        "1000:1000",
        "-e",
        "X=42",
        &b.id,
        "sh",
        "-c",
        "hostname; id -u; echo $X; readlink /proc/self/ns/pid; cat /proc/1/cmdline",
    ]);
    assert!(
        out.status.success(),
        "exec: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "cradle-test");
    assert_eq!(lines[1], "1000");
    assert_eq!(lines[2], "42");
    assert_eq!(lines[3], ns_link(&format!("/proc/{pid}/ns/pid")));
    assert!(lines[4].starts_with("sleep"), "{stdout}");

    let out = b.oci(&["exec", &b.id, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = b.oci(&["exec", &b.id, "no-such-command"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("executable file not found"));

    assert!(b.oci(&["delete", "--force", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 128 + 9);
    let out = b.oci(&["exec", &b.id, "true"]);
    assert!(
        !out.status.success(),
        "exec in a deleted container must fail"
    );
}

#[test]
fn bind_mounts_with_propagation_and_read_only_files_work() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new(
        "binds",
        &[
            "sh",
            "-c",
            "cat /data/f /etc/injected; echo x > /data/g || echo ro-ok; echo y > /etc/injected || echo ro-file-ok",
        ],
    );
    let host = b.dir.path().join("hostdata");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("f"), "from-host\n").unwrap();
    let file = b.dir.path().join("injected");
    std::fs::write(&file, "injected-file\n").unwrap();
    let mut cfg = b.config();
    cfg["linux"]["rootfsPropagation"] = json!("rshared");
    cfg["mounts"].as_array_mut().unwrap().extend([
        json!({"destination": "/data", "type": "bind", "source": host, "options": ["rbind", "rshared", "ro"]}),
        json!({"destination": "/etc/injected", "type": "bind", "source": file, "options": ["rbind", "rprivate", "ro"]}),
    ]);
    b.write_config(cfg);

    let out = b.create();
    assert!(
        out.status.success(),
        "create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = b.pid();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0);
    let stdout = b.container_stdout();
    assert_eq!(stdout, "from-host\ninjected-file\nro-ok\nro-file-ok\n");
    assert!(!host.join("g").exists());
    assert!(b.oci(&["delete", &b.id]).status.success());
}

/// Accepts one connection on a console socket, takes the pty master sent
/// with SCM_RIGHTS and reads it until the container side closes.
fn console_receiver(path: &Path) -> std::thread::JoinHandle<String> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, UnixAddr, recvmsg};
    use std::io::{IoSliceMut, Read};
    use std::os::fd::{AsRawFd, FromRawFd, RawFd};

    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 128];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<UnixAddr>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .unwrap();
        let fd = msg
            .cmsgs()
            .unwrap()
            .find_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            })
            .unwrap();
        // SAFETY: the fd was just received and is owned by nobody else.
        let mut master = unsafe { std::fs::File::from_raw_fd(fd) };
        let mut out = Vec::new();
        let mut b = [0u8; 1024];
        // EIO once every slave descriptor is closed.
        while let Ok(n) = master.read(&mut b) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&b[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    })
}

#[test]
fn terminal_mode_hands_the_pty_master_to_the_console_socket() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new("tty", &["sh", "-c", "tty; echo hi-from-tty"]);
    let mut cfg = b.config();
    cfg["process"]["terminal"] = json!(true);
    cfg["process"]["consoleSize"] = json!({"height": 40, "width": 100});
    b.write_config(cfg);
    let sock = b.dir.path().join("console.sock");
    let reader = console_receiver(&sock);

    let out = b.create_with(&["--console-socket", sock.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = b.pid();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0);
    let text = reader.join().unwrap();
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("hi-from-tty"), "{text:?}");
    assert!(b.oci(&["delete", &b.id]).status.success());

    let b2 = Bundle::new("tty2", &["true"]);
    let mut cfg = b2.config();
    cfg["process"]["terminal"] = json!(true);
    b2.write_config(cfg);
    let out = b2.create();
    assert!(
        !out.status.success(),
        "terminal without --console-socket must fail"
    );
    assert!(!b2.root.join(&b2.id).exists());
}

#[test]
fn seccomp_profile_is_enforced_in_init_and_exec() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let checks = "grep Seccomp: /proc/self/status; mkdir /tmp/d && echo mkdir-allowed || echo mkdir-denied; \
                  touch /tmp/f; chmod 755 /tmp/f && echo chmod-ok; chmod 4755 /tmp/f || echo setuid-denied";
    let b = Bundle::new(
        "seccomp",
        &["sh", "-c", &format!("{checks}; exec sleep 100")],
    );
    let mut cfg = b.config();
    let setuid = |name: &str, index: u32| {
        json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
               "args": [{"index": index, "value": 0o4000, "valueTwo": 0o4000, "op": "SCMP_CMP_MASKED_EQ"}]})
    };
    cfg["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
            setuid("chmod", 1), setuid("fchmodat", 2), setuid("fchmodat2", 2)
        ]
    });
    b.write_config(cfg);

    let out = b.create();
    assert!(
        out.status.success(),
        "create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(b.oci(&["start", &b.id]).status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !b.container_stdout().contains("setuid-denied") {
        assert!(
            Instant::now() < deadline,
            "no result: {:?}",
            b.container_stdout()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stdout = b.container_stdout();
    assert!(stdout.contains("Seccomp:\t2"), "{stdout}");
    assert!(stdout.contains("mkdir-denied"), "{stdout}");
    assert!(stdout.contains("chmod-ok"), "{stdout}");

    let out = b.oci(&["exec", &b.id, "mkdir", "/tmp/e"]);
    assert!(
        !out.status.success(),
        "exec must run under the container's filter"
    );
    let out = b.oci(&["exec", &b.id, "grep", "Seccomp:", "/proc/self/status"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Seccomp:\t2");
    assert!(b.oci(&["delete", "--force", &b.id]).status.success());
}
