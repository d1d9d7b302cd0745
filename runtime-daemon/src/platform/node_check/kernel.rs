//! The kernel: its version, overlayfs and seccomp.

use std::path::Path;

use super::report::{Check, Status};

/// Below this Cradle does not run: the daemon signals exec'd processes by
/// pidfd (`pidfd_open`, 5.3) and the image store mounts with the new mount
/// API (`fsopen`/`open_tree`, 5.2).
const REQUIRED: (u32, u32) = (5, 3);
/// `mount_setattr(2)`: recursive read-only mounts.
const RRO: (u32, u32) = (5, 12);
/// Id-mapped overlay lower layers: pods with `hostUsers: false`.
const IDMAP_OVERLAY: (u32, u32) = (5, 19);

/// The kernel release from `<proc>/sys/kernel/osrelease` (uname's, without
/// a syscall, so a fake proc can say anything), graded by [`REQUIRED`],
/// [`RRO`] and [`IDMAP_OVERLAY`].
pub fn version(proc_root: &Path) -> Check {
    const NAME: &str = "kernel version";
    let path = proc_root.join("sys/kernel/osrelease");
    let release = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().to_string(),
        Err(e) => {
            return Check::new(
                NAME,
                Status::Warn,
                format!("cannot read {}: {e}", path.display()),
                "mount procfs at /proc (or pass --proc-root)",
            );
        }
    };
    let Some(version) = parse_release(&release) else {
        return Check::new(
            NAME,
            Status::Warn,
            format!("cannot parse the release {release:?}"),
            "",
        );
    };
    let upgrade = |what: &str, needs: (u32, u32)| {
        format!(
            "upgrade to Linux {}.{} or later for {what}",
            needs.0, needs.1
        )
    };
    if version < REQUIRED {
        Check::new(
            NAME,
            Status::Fail,
            format!("Linux {release}: too old (pidfd_open and the new mount API are needed)"),
            upgrade("Cradle to run", REQUIRED),
        )
    } else if version < RRO {
        Check::new(
            NAME,
            Status::Warn,
            format!("Linux {release}: no mount_setattr (recursive read-only mounts)"),
            upgrade("recursive read-only mounts", RRO),
        )
    } else if version < IDMAP_OVERLAY {
        Check::new(
            NAME,
            Status::Warn,
            format!("Linux {release}: overlay lower layers cannot be id-mapped"),
            upgrade("pods with hostUsers: false", IDMAP_OVERLAY),
        )
    } else {
        Check::ok(NAME, format!("Linux {release}"))
    }
}

/// `(major, minor)` of a release such as `6.1.0-18-amd64`.
pub fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// overlayfs is in `<proc>/filesystems`: every container's rootfs is an
/// overlay of its image's layers.
pub fn overlayfs(proc_root: &Path) -> Check {
    const NAME: &str = "overlayfs";
    let path = proc_root.join("filesystems");
    let fix = "load it: modprobe overlay, and list it in /etc/modules-load.d/ so it loads at boot \
               (a kernel without CONFIG_OVERLAY_FS cannot run Cradle)";
    match std::fs::read_to_string(&path) {
        Ok(text) if lists_overlay(&text) => {
            Check::ok(NAME, format!("overlay is in {}", path.display()))
        }
        Ok(_) => Check::new(
            NAME,
            Status::Fail,
            format!(
                "overlay is not in {}: container root filesystems cannot be mounted",
                path.display()
            ),
            fix,
        ),
        Err(e) => Check::new(
            NAME,
            Status::Fail,
            format!("cannot read {}: {e}", path.display()),
            "mount procfs at /proc (or pass --proc-root)",
        ),
    }
}

/// Whether a `/proc/filesystems` text lists `overlay` (lines are
/// `[nodev]\t<name>`).
pub fn lists_overlay(filesystems: &str) -> bool {
    filesystems
        .lines()
        .any(|line| line.split_whitespace().last() == Some("overlay"))
}

/// The kernel filters system calls: `<proc>/sys/kernel/seccomp/actions_avail`
/// lists the filter actions (Linux 4.14+), or, on older kernels,
/// `<proc>/self/status` has the `Seccomp` field (CONFIG_SECCOMP).
pub fn seccomp(proc_root: &Path) -> Check {
    const NAME: &str = "seccomp";
    let fix = "use a kernel built with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER: \
               pods with the RuntimeDefault or a Localhost seccomp profile fail without it";
    let actions = proc_root.join("sys/kernel/seccomp/actions_avail");
    if let Ok(text) = std::fs::read_to_string(&actions) {
        let listed: Vec<&str> = text.split_whitespace().collect();
        return if listed.contains(&"errno") && listed.contains(&"allow") {
            Check::ok(NAME, format!("filter actions: {}", listed.join(" ")))
        } else {
            Check::new(
                NAME,
                Status::Fail,
                format!(
                    "{} lacks errno or allow: {}",
                    actions.display(),
                    text.trim()
                ),
                fix,
            )
        };
    }
    let status = proc_root.join("self/status");
    match std::fs::read_to_string(&status) {
        Ok(text) if text.lines().any(|l| l.starts_with("Seccomp:")) => {
            Check::ok(NAME, format!("{} has the Seccomp field", status.display()))
        }
        Ok(_) => Check::new(
            NAME,
            Status::Fail,
            "the kernel has no seccomp (no Seccomp field in /proc/self/status)",
            fix,
        ),
        Err(e) => Check::new(
            NAME,
            Status::Warn,
            format!("cannot read {}: {e}", status.display()),
            "mount procfs at /proc (or pass --proc-root)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_proc(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn releases_parse_and_grade() {
        assert_eq!(parse_release("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(parse_release("5.19"), Some((5, 19)));
        assert_eq!(parse_release("junk"), None);
        for (release, status) in [
            ("4.19.0", Status::Fail),
            ("5.10.0-28-amd64", Status::Warn),
            ("5.15.0", Status::Warn),
            ("6.18.4-fc", Status::Ok),
        ] {
            let proc = fake_proc(&[("sys/kernel/osrelease", release)]);
            let check = version(proc.path());
            assert_eq!(check.status, status, "{release}: {check:?}");
            assert!(check.detail.contains(release), "{check:?}");
            assert_eq!(check.fix.is_empty(), status == Status::Ok, "{check:?}");
        }
    }

    #[test]
    fn overlay_is_found_in_filesystems_or_its_absence_fails_with_a_fix() {
        let with = fake_proc(&[("filesystems", "nodev\tproc\n\text4\nnodev\toverlay\n")]);
        assert_eq!(overlayfs(with.path()).status, Status::Ok);
        let without = fake_proc(&[("filesystems", "nodev\tproc\n\text4\nnodev\toverlayish\n")]);
        let check = overlayfs(without.path());
        assert_eq!(check.status, Status::Fail);
        assert!(check.fix.contains("modprobe overlay"), "{check:?}");
        let empty = fake_proc(&[]);
        assert_eq!(overlayfs(empty.path()).status, Status::Fail);
    }

    #[test]
    fn seccomp_is_read_from_its_actions_or_the_status_field() {
        let actions = fake_proc(&[(
            "sys/kernel/seccomp/actions_avail",
            "kill_process kill_thread trap errno user_notif trace log allow\n",
        )]);
        assert_eq!(seccomp(actions.path()).status, Status::Ok);
        let old = fake_proc(&[("self/status", "Name:\tx\nSeccomp:\t0\n")]);
        assert_eq!(seccomp(old.path()).status, Status::Ok);
        let none = fake_proc(&[("self/status", "Name:\tx\n")]);
        let check = seccomp(none.path());
        assert_eq!(check.status, Status::Fail);
        assert!(check.fix.contains("CONFIG_SECCOMP"), "{check:?}");
    }

    #[test]
    fn this_host_answers_every_kernel_check() {
        for check in [
            version(Path::new("/proc")),
            overlayfs(Path::new("/proc")),
            seccomp(Path::new("/proc")),
        ] {
            eprintln!("{check:?}");
            assert!(!check.detail.is_empty());
            assert_eq!(check.fix.is_empty(), check.status == Status::Ok);
        }
    }
}
