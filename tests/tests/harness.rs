//! The harness's own checks: the leak check must see what it claims to see,
//! or a green end-to-end run proves nothing.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use cradle_tests::{CgroupParent, leaks, random_suffix, skip_unless_ready};

#[test]
fn leak_check_reports_mounts_paths_cgroups_and_processes() {
    skip_unless_ready!(false);
    let dir = tempfile::Builder::new()
        .prefix("cradle-leak-")
        .tempdir()
        .expect("tempdir");
    let id = format!("{}{}", random_suffix(), "a".repeat(56));
    let scope = leaks::Scope {
        dirs: vec![dir.path().to_path_buf()],
        ids: vec![id.clone()],
        exclude_pids: vec![],
    };
    assert!(leaks::find(&scope).is_empty(), "a fresh dir has no leaks");

    // A path named by the id, a mount under the dir, a process naming the dir,
    // a cgroup named by the id.
    std::fs::create_dir_all(dir.path().join("bundles").join(&id)).expect("mkdir");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mkdir");
    nix::mount::mount(
        Some("tmpfs"),
        &mnt,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .expect("mount tmpfs");
    // argv[0] names the dir: a `sh -c` wrapper may exec its last command
    // (dash does) and lose the dir from the command line before the scan.
    // It ends in `sleep` so a multi-call `sleep` (busybox) still finds its
    // applet.
    let mut child = Command::new("sleep")
        .arg0(dir.path().join("sleep"))
        .arg("30")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let sleeper_seen = wait_for_cmdline(&mut child, dir.path());
    let cgroup = CgroupParent::new();
    let cgroup_dirs: Vec<_> = make_cgroup(&cgroup, &id);

    let found = leaks::find(&scope);
    let _ = child.kill();
    let _ = child.wait();
    let _ = nix::mount::umount2(&mnt, nix::mount::MntFlags::MNT_DETACH);
    for d in &cgroup_dirs {
        let _ = std::fs::remove_dir(d);
    }
    let has = |what: &str| found.iter().any(|l| l.starts_with(what));
    assert!(has("path left behind"), "{found:?}");
    assert!(has("mount left behind"), "{found:?}");
    assert!(
        has("process left behind"),
        "the sleeper ({sleeper_seen}) was not reported: {found:?}"
    );
    if !cgroup_dirs.is_empty() {
        assert!(has("cgroup left behind"), "{found:?}");
    }
    assert!(
        leaks::find(&scope)
            .iter()
            .all(|l| l.starts_with("path left behind")),
        "cleanup worked"
    );
}

/// Creates `<parent>/<id>` in the first writable cgroup hierarchy.
fn make_cgroup(parent: &CgroupParent, id: &str) -> Vec<std::path::PathBuf> {
    for root in [
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup",
    ] {
        let leaf = std::path::Path::new(root)
            .join(parent.path().trim_start_matches('/'))
            .join(id);
        if std::fs::create_dir_all(&leaf).is_ok() {
            return vec![
                leaf.clone(),
                leaf.parent().map(|p| p.to_path_buf()).unwrap_or_default(),
            ];
        }
    }
    Vec::new()
}

/// Waits (at most 2 s) until `/proc/<child>/cmdline` names `dir`, and says
/// what it last saw, so a miss tells whether the scan or the child failed.
///
/// `spawn` returns once the child's old memory is released in execve, which
/// is before the ELF loader records where the new argv lies: until then its
/// cmdline reads empty, and a scan on a busy machine can land in between.
fn wait_for_cmdline(child: &mut std::process::Child, dir: &std::path::Path) -> String {
    let path = format!("/proc/{}/cmdline", child.id());
    let dir = dir.to_string_lossy().into_owned();
    let mut last = String::new();
    for _ in 0..200 {
        if let Ok(Some(status)) = child.try_wait() {
            return format!("exited before the scan: {status}");
        }
        last = match std::fs::read(&path) {
            Ok(raw) => String::from_utf8_lossy(&raw).replace('\0', " "),
            Err(e) => format!("{path}: {e}"),
        };
        if last.contains(&dir) {
            return format!("pid {} running as {:?}", child.id(), last.trim_end());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    format!(
        "pid {} never named the dir; last cmdline {last:?}",
        child.id()
    )
}
