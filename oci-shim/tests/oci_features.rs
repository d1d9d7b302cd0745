//! Root integration tests of `cradle-oci` beyond the core verbs: joined
//! namespaces, bind mounts and propagation, exec, terminal mode, seccomp.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

mod oci_harness;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use oci_harness::*;
use serde_json::json;

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

    assert_eq!(b.run_to_exit().trim(), format!("net:[{ino}]"));
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

    // A signal to `cradle-oci exec` reaches the process (ExecSync timeouts).
    let mut execer = Command::new(bin())
        .arg("--root")
        .arg(&b.root)
        .args(["exec", &b.id, "sleep", "100"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = b.oci(&["ps", "--format", "json", &b.id]);
        let pids: Vec<i32> = serde_json::from_slice(&out.stdout).unwrap();
        if pids.len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "exec'd process never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(execer.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(execer.wait().unwrap().code(), Some(128 + 15));
    let out = b.oci(&["ps", "--format", "json", &b.id]);
    let pids: Vec<i32> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pids, vec![pid], "the exec'd process is gone");

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

    let pid = b.create_ok();
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

#[test]
fn spec_devices_are_created_with_mode_and_owner() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new(
        "devices",
        &[
            "sh",
            "-c",
            "test -c /dev/extra/null2 && echo char; echo x > /dev/extra/null2 && echo wrote; stat -c '%a %u:%g %t:%T' /dev/extra/null2",
        ],
    );
    let mut cfg = b.config();
    cfg["linux"]["devices"] = json!([
        {"path": "/dev/extra/null2", "type": "c", "major": 1, "minor": 3, "fileMode": 0o662, "uid": 1000, "gid": 5}
    ]);
    b.write_config(cfg);
    assert_eq!(b.run_to_exit(), "char\nwrote\n662 1000:5 1:3\n");
}

/// Like runc: a spec device at the path of a default node (/dev/null,
/// /dev/zero …) replaces the default one, with the spec's numbers and owner.
#[test]
fn spec_devices_at_default_paths_replace_the_default_nodes() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let b = Bundle::new(
        "devdefault",
        &[
            "sh",
            "-c",
            "stat -c '%a %u:%g %t:%T' /dev/null /dev/zero; echo x > /dev/null && echo wrote",
        ],
    );
    let mut cfg = b.config();
    cfg["linux"]["devices"] = json!([
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o662, "uid": 1000, "gid": 5},
        {"path": "/dev/zero", "type": "c", "major": 1, "minor": 7, "fileMode": 0o640, "uid": 0, "gid": 0}
    ]);
    b.write_config(cfg);
    assert_eq!(b.run_to_exit(), "662 1000:5 1:3\n640 0:0 1:7\nwrote\n");
}

#[test]
fn sysctls_rlimits_masked_and_read_only_paths_apply() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let script = "cat /proc/sys/net/ipv4/ip_forward; ulimit -n; \
                  echo 0 > /proc/sys/net/ipv4/ip_forward 2>/dev/null || echo sys-ro; \
                  touch /newfile 2>/dev/null || echo root-ro; \
                  wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l; touch /tmp/ok && echo tmp-rw";
    let b = Bundle::new("hardening", &["sh", "-c", script]);
    let mut cfg = b.config();
    cfg["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    b.write_config(cfg);
    assert_eq!(b.run_to_exit(), "1\n1024\nsys-ro\nroot-ro\n0\n0\ntmp-rw\n");
}
