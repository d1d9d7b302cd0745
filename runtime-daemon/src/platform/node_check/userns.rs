//! User namespaces: the kernel allows them, and an overlay like a pod's
//! rootfs can be id-mapped (what pods with `hostUsers: false` need).

use std::path::Path;

use super::report::{Check, Status};

/// `<proc>/sys/user/max_user_namespaces` is above 0.
pub fn user_namespaces(proc_root: &Path) -> Check {
    const NAME: &str = "user namespaces";
    let path = proc_root.join("sys/user/max_user_namespaces");
    match std::fs::read_to_string(&path).map(|t| t.trim().parse::<u64>()) {
        Ok(Ok(0)) => Check::new(
            NAME,
            Status::Warn,
            format!(
                "{} is 0: pods with hostUsers: false cannot run",
                path.display()
            ),
            "sysctl -w user.max_user_namespaces=65536 (and set it in /etc/sysctl.d/)",
        ),
        Ok(Ok(max)) => Check::ok(NAME, format!("max_user_namespaces = {max}")),
        Ok(Err(e)) => Check::new(
            NAME,
            Status::Warn,
            format!("{}: not a number ({e})", path.display()),
            "",
        ),
        Err(e) => Check::new(
            NAME,
            Status::Warn,
            format!(
                "cannot read {} ({e}): the kernel may lack user namespaces",
                path.display()
            ),
            "use a kernel built with CONFIG_USER_NS for pods with hostUsers: false",
        ),
    }
}

/// The daemon's id-mapped overlay probe ([`crate::platform::idmap_probe`]),
/// run on the filesystem of the snapshots (`<root>/snapshots`, else the
/// root) when `probe` is set and we are root; otherwise a warning that
/// it was not run.
pub fn idmapped_mounts(root: &Path, probe: bool) -> Check {
    const NAME: &str = "id-mapped mounts";
    if !probe {
        return Check::new(NAME, Status::Warn, "not probed", "run without --no-probe");
    }
    if !nix::unistd::geteuid().is_root() {
        return Check::new(
            NAME,
            Status::Warn,
            "not probed: the probe mounts, which needs root",
            "run cradlectl check as root",
        );
    }
    let snapshots = root.join("snapshots");
    let scratch = if snapshots.is_dir() {
        snapshots
    } else {
        root.to_path_buf()
    };
    if !scratch.is_dir() {
        return Check::new(
            NAME,
            Status::Warn,
            format!(
                "not probed: {} does not exist (cradled creates it at its first start)",
                root.display()
            ),
            "start cradled once, or pass its --root / --config",
        );
    }
    if crate::platform::idmap_probe::overlay_supports_idmap(&scratch) {
        Check::ok(
            NAME,
            format!("an overlay on {} can be id-mapped", scratch.display()),
        )
    } else {
        Check::new(
            NAME,
            Status::Warn,
            format!(
                "an overlay on {} cannot be id-mapped: pods with hostUsers: false are refused",
                scratch.display()
            ),
            "Linux 5.19+ with the root on a filesystem that supports id-mapped mounts \
             (ext4, xfs, btrfs, tmpfs)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_with(max: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        if let Some(max) = max {
            std::fs::create_dir_all(dir.path().join("sys/user")).unwrap();
            std::fs::write(dir.path().join("sys/user/max_user_namespaces"), max).unwrap();
        }
        dir
    }

    #[test]
    fn user_namespaces_need_a_positive_maximum() {
        assert_eq!(
            user_namespaces(proc_with(Some("15000\n")).path()).status,
            Status::Ok
        );
        let zero = user_namespaces(proc_with(Some("0\n")).path());
        assert_eq!(zero.status, Status::Warn);
        assert!(zero.fix.contains("max_user_namespaces"), "{zero:?}");
        let missing = user_namespaces(proc_with(None).path());
        assert_eq!(missing.status, Status::Warn);
        assert!(missing.fix.contains("CONFIG_USER_NS"), "{missing:?}");
    }

    #[test]
    fn the_probe_is_skipped_when_asked_or_without_a_root_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(idmapped_mounts(dir.path(), false).status, Status::Warn);
        let missing = idmapped_mounts(&dir.path().join("absent"), true);
        assert_eq!(missing.status, Status::Warn);
        assert!(missing.detail.contains("not probed"), "{missing:?}");
    }

    #[test]
    fn the_probe_answers_on_this_host_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let check = idmapped_mounts(dir.path(), true);
        eprintln!("{check:?}");
        assert_ne!(check.status, Status::Fail);
        if nix::unistd::geteuid().is_root() {
            assert!(!check.detail.contains("not probed"), "{check:?}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
