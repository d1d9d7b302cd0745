//! The shared harness of the `cradle-oci` integration tests: a busybox
//! bundle in a temp dir with its own --root and cgroup, and a guard that
//! force-deletes the container even when an assertion fails.
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test-only helpers: a failed unwrap or expect fails the test that called it"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The launcher under test: `CRADLE_OCI_BIN` when set (hack/test.sh points
/// it at the static build that ships), else the one cargo built.
pub fn bin() -> String {
    std::env::var("CRADLE_OCI_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_cradle-oci").into())
}

/// Root, or the test skips (fails under `CRADLE_TESTS_REQUIRE_ALL`).
pub fn is_root() -> bool {
    cradle_testkit::root_or_skip()
}

/// Makes this test process the reaper of orphaned container inits, so
/// their exit status can be collected with waitpid.
pub fn become_subreaper() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
}

pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub id: String,
    pub cgroup: String,
}

impl Bundle {
    pub fn new(name: &str, args: &[&str]) -> Bundle {
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
        // One level only: a shared parent would race between parallel tests.
        let cgroup = format!("/cradle-test-{id}");
        let b = Bundle {
            root: dir.path().join("state"),
            dir,
            id,
            cgroup,
        };
        b.write_config(base_config(args, &b.cgroup));
        b
    }

    pub fn write_config(&self, cfg: Value) {
        std::fs::write(self.dir.path().join("config.json"), cfg.to_string()).unwrap();
    }

    pub fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir.path().join("config.json")).unwrap())
            .unwrap()
    }

    pub fn oci(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .output()
            .unwrap()
    }

    /// `create` with the container's stdio going to files in the bundle.
    pub fn create(&self) -> Output {
        self.create_with(&[])
    }

    /// `create` with extra arguments before the id.
    pub fn create_with(&self, extra: &[&str]) -> Output {
        let out = std::fs::File::create(self.dir.path().join("stdout")).unwrap();
        let err = std::fs::File::create(self.dir.path().join("stderr")).unwrap();
        let status = Command::new(bin())
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

    pub fn container_stdout(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.path().join("stdout")).unwrap())
            .into_owned()
    }

    /// `create`, which must succeed; the init's pid.
    pub fn create_ok(&self) -> i32 {
        let out = self.create();
        assert!(
            out.status.success(),
            "create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.pid()
    }

    /// create, start, wait for exit 0, delete (the caller must be the
    /// subreaper); the container's stdout.
    pub fn run_to_exit(&self) -> String {
        let pid = self.create_ok();
        assert!(self.oci(&["start", &self.id]).status.success());
        assert_eq!(wait_exit(pid), 0, "stdout: {}", self.container_stdout());
        assert!(self.oci(&["delete", &self.id]).status.success());
        self.container_stdout()
    }

    pub fn pid(&self) -> i32 {
        std::fs::read_to_string(self.dir.path().join("pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    pub fn state(&self) -> Value {
        let out = self.oci(&["state", &self.id]);
        assert!(
            out.status.success(),
            "state: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        cradle_shim::cgroups::Cgroup::new(&self.cgroup)
            .unwrap()
            .dirs()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = self.oci(&["delete", "--force", &self.id]);
        let _ = cradle_shim::cgroups::Cgroup::new(&self.cgroup).map(|c| c.remove());
    }
}

pub fn base_config(args: &[&str], cgroup: &str) -> Value {
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

pub fn wait_exit(pid: i32) -> i32 {
    match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap() {
        nix::sys::wait::WaitStatus::Exited(_, code) => code,
        nix::sys::wait::WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        other => panic!("unexpected wait status {other:?}"),
    }
}

pub fn wait_status(b: &Bundle, want: &str) {
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

pub fn ns_link(path: &str) -> String {
    std::fs::read_link(path)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The host id that root of [`userns_bundle`]'s containers maps to.
pub const HOST_ID: u32 = 100000;

/// A bundle whose container runs in a new user namespace mapping 0 to
/// [`HOST_ID`] (size 65536), with its rootfs owned by the mapped ids.
pub fn userns_bundle(name: &str, args: &[&str]) -> Bundle {
    let b = Bundle::new(name, args);
    std::fs::set_permissions(b.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let st = std::process::Command::new("chown")
        .args(["-hR", &format!("{HOST_ID}:{HOST_ID}")])
        .arg(b.dir.path().join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    let mut cfg = b.config();
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": HOST_ID, "size": 65536}]);
    cfg["linux"]["uidMappings"] = map.clone();
    cfg["linux"]["gidMappings"] = map;
    b.write_config(cfg);
    b
}
