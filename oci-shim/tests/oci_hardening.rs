//! Root integration tests that try the known container escapes against
//! `cradle-oci` and check that each fails: reaching the runtime binary
//! through `/proc/<pid>/exe` (CVE-2019-5736 class), leaked host
//! descriptors and a cwd through one (CVE-2024-21626 class), mount
//! targets through symlinks to the host (CVE-2021-30465 class), and a
//! `/proc` that is not a procfs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

mod oci_harness;

use std::path::Path;
use std::process::{Command, Output};

use oci_harness::*;
use serde_json::json;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `create`, from a shell that first opens `leak` as fd 7 without
/// close-on-exec, as a careless caller would.
fn create_leaking_fd7(b: &Bundle, leak: &Path) -> Output {
    let script = format!(
        "exec 7<'{}' && exec '{}' --root '{}' create --bundle '{}' --pid-file '{}' '{}' >'{}' 2>'{}'",
        leak.display(),
        bin(),
        b.root.display(),
        b.dir.path().display(),
        b.dir.path().join("pid").display(),
        b.id,
        b.dir.path().join("stdout").display(),
        b.dir.path().join("stderr").display(),
    );
    let status = Command::new("sh").arg("-c").arg(script).status().unwrap();
    Output {
        status,
        stdout: std::fs::read(b.dir.path().join("stdout")).unwrap_or_default(),
        stderr: std::fs::read(b.dir.path().join("stderr")).unwrap_or_default(),
    }
}

#[test]
fn runtime_binary_is_not_reachable_from_a_shared_pid_namespace() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let a = Bundle::new("exe-a", &["sleep", "30"]);
    assert!(a.create().status.success());
    assert!(a.oci(&["start", &a.id]).status.success());
    // B joins A's pid namespace and stays `created`: its init is a fork of
    // cradle-oci, waiting on the exec FIFO, visible to A's processes.
    let b = Bundle::new("exe-b", &["true"]);
    let mut cfg = b.config();
    cfg["linux"]["namespaces"][0] =
        json!({"type": "pid", "path": format!("/proc/{}/ns/pid", a.pid())});
    b.write_config(cfg);
    let out = b.create();
    assert!(out.status.success(), "create b: {}", text(&out));

    let probe = "for p in /proc/[0-9]*; do \
        echo \"PID ${p#/proc/} EXE $(readlink $p/exe)\"; \
        cat $p/exe >/dev/null 2>&1 && echo \"READ ${p#/proc/}\"; \
        (echo x >>$p/exe) 2>/dev/null && echo \"WROTE ${p#/proc/}\"; \
        done; true";
    let out = a.oci(&["exec", &a.id, "sh", "-c", probe]);
    let seen = text(&out);
    assert!(out.status.success(), "exec: {seen}");
    let pids = seen.lines().filter(|l| l.starts_with("PID ")).count();
    assert!(pids >= 3, "B's init should be visible: {seen}");
    assert!(
        seen.lines()
            .any(|l| l.starts_with("PID ") && l.ends_with("EXE ")),
        "some process (B's init) should hide its exe: {seen}"
    );
    assert!(
        !seen.contains("cradle-oci"),
        "runtime binary exposed: {seen}"
    );
    assert!(
        !seen.contains("WROTE"),
        "an exe was opened for writing: {seen}"
    );
    // Only A's own busybox processes may be readable.
    for line in seen.lines().filter(|l| l.starts_with("READ ")) {
        let pid = line.trim_start_matches("READ ");
        assert!(
            seen.contains(&format!("PID {pid} EXE /bin/busybox")),
            "read a non-container exe: {seen}"
        );
    }
    // Started, B's init is the user's binary. It is reaped here (we are
    // its subreaper), or A's pid namespace could not finish dying.
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(b.pid()), 0);
}

#[test]
fn leaked_host_fd_is_not_visible_in_the_container() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new(
        "fdleak",
        &["sh", "-c", "[ -e /proc/self/fd/7 ] && echo LEAK; echo done"],
    );
    let host_dir = tempfile::tempdir().unwrap();
    let out = create_leaking_fd7(&b, host_dir.path());
    assert!(out.status.success(), "create: {}", text(&out));
    let pid = b.pid();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0);
    assert_eq!(b.container_stdout().trim(), "done");
}

#[test]
fn cwd_through_a_leaked_host_fd_is_refused() {
    if !is_root() {
        return;
    }
    let b = Bundle::new("fdcwd", &["sh", "-c", "ls /; pwd"]);
    let mut cfg = b.config();
    cfg["process"]["cwd"] = json!("/proc/self/fd/7");
    b.write_config(cfg);
    let host_dir = tempfile::tempdir().unwrap();
    let out = create_leaking_fd7(&b, host_dir.path());
    assert!(!out.status.success(), "create must fail: {}", text(&out));
    assert!(!b.root.join(&b.id).exists(), "state left behind");
    assert!(b.cgroup_dirs().iter().all(|d| !d.exists()), "cgroup left");
}

#[test]
fn mount_targets_through_symlinks_to_the_host_stay_in_the_rootfs() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new(
        "symlink",
        &["sh", "-c", "echo hi >/evil/sub/f && cat /evil/hosts"],
    );
    let host = tempfile::tempdir().unwrap();
    let rootfs = b.dir.path().join("rootfs");
    std::os::unix::fs::symlink(host.path(), rootfs.join("evil")).unwrap();
    let hosts = b.dir.path().join("hosts-src");
    std::fs::write(&hosts, "from-bundle\n").unwrap();
    let mut cfg = b.config();
    let mounts = cfg["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/evil/sub", "type": "tmpfs", "source": "tmpfs"}));
    mounts.push(json!({"destination": "/evil/hosts", "type": "bind", "source": hosts, "options": ["bind", "ro"]}));
    b.write_config(cfg);
    let out = b.create();
    assert!(out.status.success(), "create: {}", text(&out));
    let pid = b.pid();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0);
    assert_eq!(b.container_stdout().trim(), "from-bundle");
    assert!(
        !host.path().join("sub").exists(),
        "mount target made on the host"
    );
    assert!(
        !host.path().join("hosts").exists(),
        "bind target made on the host"
    );
}

#[test]
fn sysctl_through_a_proc_that_is_not_procfs_is_refused() {
    if !is_root() {
        return;
    }
    let b = Bundle::new("fakeproc", &["true"]);
    let fake = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(fake.path().join("sys/kernel")).unwrap();
    let file = fake.path().join("sys/kernel/shmmax");
    std::fs::write(&file, "untouched").unwrap();
    let mut cfg = b.config();
    cfg["mounts"][0] = json!({"destination": "/proc", "type": "bind", "source": fake.path(), "options": ["rbind"]});
    cfg["linux"]["sysctl"] = json!({"kernel.shmmax": "1000000"});
    b.write_config(cfg);
    let out = b.create();
    assert!(!out.status.success(), "create must fail");
    assert!(text(&out).contains("not on a procfs"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "untouched");
    assert!(!b.root.join(&b.id).exists(), "state left behind");
}

/// CVE-2019-5736 as published: the container's program is the runtime
/// itself (`/proc/self/exe`, as a `#!/proc/self/exe` script would make
/// it), so the kernel runs the runtime's binary inside the container; a
/// second container process keeps a descriptor of it and writes through
/// it once it has exited. Here the runtime is a copy in the bundle (so a
/// failure damages only the copy), the first process blocks opening a
/// FIFO as its log until the attacker is ready, and there is no pid
/// namespace (the attacker must outlive the first process).
#[test]
fn runtime_binary_run_by_the_container_cannot_be_overwritten() {
    if is_root() {
        overwrite_attack("exe-overwrite", false);
    }
}

/// The same attack against a runtime installed on a read-only bind
/// mount: it runs as is (no sealed re-exec) and the write still fails.
#[test]
fn runtime_binary_on_a_read_only_mount_runs_as_is_and_stays_intact() {
    if is_root() {
        overwrite_attack("exe-ro", true);
    }
}

/// Unmounts a test's bind mount even when an assertion fails.
struct Unmount(std::path::PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn overwrite_attack(name: &str, ro_bind: bool) {
    use nix::mount::{MsFlags, mount};
    become_subreaper();
    let b = Bundle::new(name, &["/proc/self/exe", "--log", "/tmp/fifo", "features"]);
    let victim = b.dir.path().join("cradle-oci-copy");
    std::fs::copy(bin(), &victim).unwrap();
    let before = std::fs::read(&victim).unwrap();
    let _ro = ro_bind.then(|| {
        mount(
            Some(&victim),
            &victim,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap();
        let guard = Unmount(victim.clone());
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(None::<&str>, &victim, None::<&str>, flags, None::<&str>).unwrap();
        guard
    });
    let mut cfg = b.config();
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "pid");
    cfg["root"]["readonly"] = json!(false);
    std::fs::create_dir_all(b.dir.path().join("rootfs/tmp")).unwrap();
    let out_dir = b.dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    cfg["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/out", "type": "bind", "source": out_dir, "options": ["bind"]}),
    );
    b.write_config(cfg);
    // An image with a C library, so the runtime's binary can run in it.
    copy_shared_libraries(&victim, &b.dir.path().join("rootfs"));
    let oci = |args: &[&str]| {
        Command::new(&victim)
            .arg("--root")
            .arg(&b.root)
            .args(args)
            .output()
            .unwrap()
    };
    let bundle = b.dir.path().to_str().unwrap().to_string();
    let pid_file = b.dir.path().join("pid");
    // The init keeps create's stdio: files, not pipes output() would wait on.
    let log = |name: &str| std::fs::File::create(b.dir.path().join(name)).unwrap();
    let created = Command::new(&victim)
        .arg("--root")
        .arg(&b.root)
        .args(["create", "--bundle", &bundle, "--pid-file"])
        .arg(&pid_file)
        .arg(&b.id)
        .stdout(log("stdout"))
        .stderr(log("stderr"))
        .status()
        .unwrap();
    let stderr = std::fs::read_to_string(b.dir.path().join("stderr")).unwrap_or_default();
    assert!(created.success(), "create: {stderr}");
    let pid = b.pid();
    // The FIFO lives in the container's /tmp (a tmpfs), made from outside
    // through the init's root.
    let fifo = format!("/proc/{pid}/root/tmp/fifo");
    nix::unistd::mkfifo(
        fifo.as_str(),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    assert!(oci(&["start", &b.id]).status.success());
    // Until the FIFO has a reader the runtime's binary sits in open(2).
    // The attacker runs detached, so no runtime process of ours is left
    // to keep the host file busy (ETXTBSY) while it retries the write.
    let attack = format!(
        "exec 9</proc/{pid}/exe || exit 3; readlink /proc/{pid}/exe >/out/exe; \
         cat /tmp/fifo >/dev/null; i=0; while [ $i -lt 40 ]; do \
         if (echo pwned >>/proc/self/fd/9) 2>/dev/null; then echo WROTE >/out/result; exit 0; fi; \
         sleep 0.05; i=$((i+1)); done; echo REFUSED >/out/result"
    );
    let attacker_pid = b.dir.path().join("attacker.pid");
    let out = oci(&[
        "exec",
        "--detach",
        "--pid-file",
        attacker_pid.to_str().unwrap(),
        &b.id,
        "sh",
        "-c",
        &attack,
    ]);
    assert!(out.status.success(), "exec: {}", text(&out));
    let attacker: i32 = std::fs::read_to_string(&attacker_pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let init_err = std::fs::read_to_string(b.dir.path().join("stderr")).unwrap_or_default();
    assert_eq!(wait_exit(pid), 0, "init: {init_err}");
    assert_eq!(wait_exit(attacker), 0);
    let read = |f: &str| std::fs::read_to_string(out_dir.join(f)).unwrap_or_default();
    assert_eq!(
        read("result").trim(),
        "REFUSED",
        "the runtime binary was written"
    );
    // The sealed view (an overlay path or a memfd), or the read-only file.
    assert_eq!(
        read("exe").trim() == victim.to_str().unwrap(),
        ro_bind,
        "exe seen from the container: {}",
        read("exe")
    );
    assert_eq!(std::fs::read(&victim).unwrap(), before, "binary changed");
    let _ = oci(&["delete", "--force", &b.id]);
}

/// Copies the libraries `ldd` lists for `binary` to the same paths
/// under `rootfs`.
fn copy_shared_libraries(binary: &Path, rootfs: &Path) {
    let out = Command::new("ldd").arg(binary).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(lib) = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(Path::new)
        else {
            continue;
        };
        let dest = rootfs.join(lib.strip_prefix("/").unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(lib, &dest).unwrap();
    }
}
