//! `/dev` inside the container when it is a fresh tmpfs: the default
//! device nodes made with mknod like the host's, as runc does (bind-mounted
//! from the host where mknod is refused, in user namespaces), the spec's
//! `linux.devices`, and the usual symlinks.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag, makedev};

use crate::oci::error::{OciError, Result};
use crate::oci::rootfs::confined::resolve_in_root;
use crate::oci::syscall::Syscall;
use crate::spec::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

/// The nodes every container gets.
const DEFAULT_DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// The symlinks every container gets: `(link in /dev, target)`.
const DEFAULT_LINKS: [(&str, &str); 6] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
    ("core", "/proc/kcore"),
];

/// Populates `<rootfs>/dev` (already mounted as a tmpfs by the spec).
pub(crate) fn setup_dev(sys: &impl Syscall, rootfs: &Path, devices: &[LinuxDevice]) -> Result<()> {
    let dev = rootfs.join("dev");
    for name in DEFAULT_DEVICES {
        let host = Path::new("/dev").join(name);
        // Like runc, the spec's entry for a default path wins: make only
        // that one. Making both fails in user namespaces, where the default
        // is a bind mount that can be neither removed nor mknod'ed over.
        if devices.iter().any(|d| d.path == host) {
            continue;
        }
        if host.exists() {
            copy_device(sys, &host, &dev.join(name))?;
        }
    }
    for d in devices {
        create_device(sys, rootfs, d)?;
    }
    for (link, target) in DEFAULT_LINKS {
        // Like runc: /dev/core only where the kernel has /proc/kcore (this
        // runs before pivot_root, so /proc is still the host's).
        if link == "core" && !Path::new(target).exists() {
            continue;
        }
        let path = dev.join(link);
        if std::fs::symlink_metadata(&path).is_err() {
            symlink(target, &path).map_err(|e| OciError::io("symlink", &path, e))?;
        }
    }
    Ok(())
}

/// mknod of `host`'s node at `target` (mode 0666, root-owned), or a bind
/// mount of it when mknod is not permitted.
fn copy_device(sys: &impl Syscall, host: &Path, target: &Path) -> Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::metadata(host).map_err(|e| OciError::io("stat", host, e))?;
    if !meta.file_type().is_char_device() {
        return bind_device(sys, host, target);
    }
    let perm = Mode::from_bits_truncate(0o666);
    match sys.mknod(target, SFlag::S_IFCHR, perm, meta.rdev()) {
        Ok(()) => std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| OciError::io("chmod", target, e)),
        Err(nix::Error::EPERM) => bind_device(sys, host, target),
        Err(e) => Err(OciError::sys(format!("mknod {}", target.display()), e)),
    }
}

fn bind_device(sys: &impl Syscall, host: &Path, target: &Path) -> Result<()> {
    if std::fs::symlink_metadata(target).is_err() {
        std::fs::File::create(target)
            .map_err(|e| OciError::io("create device placeholder", target, e))?;
    }
    sys.mount(Some(host), target, None, MsFlags::MS_BIND, None)
        .map_err(|e| {
            OciError::sys(
                format!("bind device {} onto {}", host.display(), target.display()),
                e,
            )
        })
}

/// mknod with the spec's mode and owner; falls back to bind-mounting the
/// host's node of the same path when mknod is not permitted.
fn create_device(sys: &impl Syscall, rootfs: &Path, d: &LinuxDevice) -> Result<()> {
    let target = resolve_in_root(rootfs, &d.path)?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| OciError::io("mkdir", parent, e))?;
    }
    let kind = match d.typ {
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(OciError::Unsupported(format!(
                "device {} of type a",
                d.path.display()
            )));
        }
    };
    let perm = Mode::from_bits_truncate(d.file_mode.unwrap_or(0o666));
    let dev = makedev(d.major as u64, d.minor as u64);
    let _ = std::fs::remove_file(&target);
    match sys.mknod(&target, kind, perm, dev) {
        Ok(()) => {
            // mknod applies the umask; the spec's mode is meant exactly.
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(perm.bits()))
                .map_err(|e| OciError::io("chmod", &target, e))?;
            let uid = d.uid.map(nix::unistd::Uid::from_raw);
            let gid = d.gid.map(nix::unistd::Gid::from_raw);
            sys.chown(&target, uid, gid)
                .map_err(|e| OciError::sys(format!("chown {}", target.display()), e))
        }
        Err(nix::Error::EPERM) if d.path.exists() => bind_device(sys, &d.path, &target),
        Err(e) => Err(OciError::sys(format!("mknod {}", target.display()), e)),
    }
}

/// runc's always-allowed device rules: mknod of anything, the standard
/// nodes, ptys; plus an allow rule for each device node of the spec. A
/// FIFO (`p`) gets none: the devices controller knows only `a`, `b` and
/// `c` (v1's devices.allow refuses `p` with EINVAL) and never stands
/// between a process and a pipe.
pub(crate) fn always_allowed(spec_devices: &[LinuxDevice]) -> LinuxResources {
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        LinuxDeviceCgroup {
            allow: true,
            typ: Some(typ),
            major,
            minor,
            access: Some(access.to_string()),
        }
    };
    let c = LinuxDeviceType::C;
    let mut rules = vec![
        rule(c, None, None, "m"),
        rule(LinuxDeviceType::B, None, None, "m"),
        rule(c, Some(1), Some(3), "rwm"), // null
        rule(c, Some(1), Some(5), "rwm"), // zero
        rule(c, Some(1), Some(7), "rwm"), // full
        rule(c, Some(1), Some(8), "rwm"), // random
        rule(c, Some(1), Some(9), "rwm"), // urandom
        rule(c, Some(5), Some(0), "rwm"), // tty
        rule(c, Some(5), Some(2), "rwm"), // ptmx
        rule(c, Some(136), None, "rwm"),  // pts/*
    ];
    for d in spec_devices {
        let typ = match d.typ {
            LinuxDeviceType::P => continue,
            LinuxDeviceType::U => c,
            t => t,
        };
        rules.push(rule(typ, Some(d.major), Some(d.minor), "rwm"));
    }
    LinuxResources {
        devices: Some(rules),
        ..LinuxResources::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_gets_no_device_rule_and_a_char_device_one() {
        let devs: Vec<LinuxDevice> = serde_json::from_str(
            r#"[{"path":"/dev/fifo","type":"p"},
                {"path":"/dev/fuse","type":"c","major":10,"minor":229},
                {"path":"/dev/u","type":"u","major":4,"minor":5}]"#,
        )
        .unwrap();
        let rules = always_allowed(&devs).devices.unwrap();
        assert!(rules.iter().all(|r| r.typ != Some(LinuxDeviceType::P)));
        let added: Vec<_> = rules[rules.len() - 2..]
            .iter()
            .map(|r| (r.typ, r.major, r.minor))
            .collect();
        assert_eq!(
            added,
            [
                (Some(LinuxDeviceType::C), Some(10), Some(229)),
                (Some(LinuxDeviceType::C), Some(4), Some(5))
            ]
        );
    }

    #[test]
    fn a_spec_device_is_made_with_its_mode_and_owner_inside_the_rootfs() {
        use crate::oci::syscall::{Call, Recorder};
        let dir = tempfile::tempdir().unwrap();
        let devs: Vec<LinuxDevice> = serde_json::from_str(
            r#"[{"path":"/dev/fuse","type":"c","major":10,"minor":229,
                 "fileMode":432,"uid":1000,"gid":100}]"#,
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("dev")).unwrap();
        let sys = Recorder::new(dir.path());
        setup_dev(&sys, dir.path(), &devs).unwrap();
        let log = sys.log();
        let at = log
            .iter()
            .position(|c| matches!(c, Call::Mknod(p, ..) if p == "/dev/fuse"))
            .unwrap();
        assert_eq!(
            log[at..at + 2],
            [
                Call::Mknod("/dev/fuse".into(), SFlag::S_IFCHR, 0o660, makedev(10, 229)),
                Call::Chown("/dev/fuse".into(), Some(1000), Some(100)),
            ]
        );
    }
}
