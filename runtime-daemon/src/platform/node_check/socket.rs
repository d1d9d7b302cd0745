//! The CRI socket: it exists, is a socket something listens on, and only
//! root (and the socket's group) can connect: whoever can connect runs
//! containers as root.

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::Path;

use super::report::{Check, Status};

/// Mode bits the socket may have (0660, as cradled sets it).
const ALLOWED_MODE: u32 = 0o660;

/// The socket at `path`: present, a socket, listened on, owned by root,
/// mode at most 0660 (fail when others may write, i.e. connect).
pub fn cri_socket(path: &Path) -> Check {
    const NAME: &str = "cri socket";
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) => {
            return Check::new(
                NAME,
                Status::Fail,
                format!("{}: {e}", path.display()),
                "start cradled (or point --config / --cri-socket at the socket it serves)",
            );
        }
    };
    if !meta.file_type().is_socket() {
        return Check::new(
            NAME,
            Status::Fail,
            format!("{} is not a socket", path.display()),
            "remove it and restart cradled, which binds the socket there",
        );
    }
    let mode = meta.mode() & 0o7777;
    let chmod = format!("chmod 0660 {0}; chown root {0}", path.display());
    if mode & 0o002 != 0 {
        return Check::new(
            NAME,
            Status::Fail,
            format!(
                "{} has mode {mode:04o}: any user can connect and run containers as root",
                path.display()
            ),
            chmod,
        );
    }
    if meta.uid() != 0 {
        return Check::new(
            NAME,
            Status::Fail,
            format!(
                "{} is owned by uid {}, not root",
                path.display(),
                meta.uid()
            ),
            chmod,
        );
    }
    if let Err(e) = cradle_proto::sockpath::connect(path)
        // Not root: the mode keeps us out, which says nothing of a listener.
        && e.kind() != std::io::ErrorKind::PermissionDenied
    {
        return Check::new(
            NAME,
            Status::Fail,
            format!("{}: nothing answers ({e}): a stale socket", path.display()),
            "start cradled",
        );
    }
    if mode & !ALLOWED_MODE != 0 {
        return Check::new(
            NAME,
            Status::Warn,
            format!("{} has mode {mode:04o}, more than 0660", path.display()),
            chmod,
        );
    }
    Check::ok(
        NAME,
        format!("{} listening, mode {mode:04o}, owner root", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn missing_and_plain_files_fail() {
        let dir = tempfile::tempdir().unwrap();
        let missing = cri_socket(&dir.path().join("cri.sock"));
        assert_eq!(missing.status, Status::Fail);
        assert!(missing.fix.contains("start cradled"), "{missing:?}");
        std::fs::write(dir.path().join("file"), "").unwrap();
        let plain = cri_socket(&dir.path().join("file"));
        assert_eq!(plain.status, Status::Fail);
        assert!(plain.detail.contains("not a socket"), "{plain:?}");
    }

    #[test]
    fn the_mode_and_the_listener_decide() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cri.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        set_mode(&path, 0o666);
        let open = cri_socket(&path);
        assert_eq!(open.status, Status::Fail);
        assert!(open.fix.contains("chmod 0660"), "{open:?}");
        set_mode(&path, 0o660);
        let root = nix::unistd::geteuid().is_root();
        let check = cri_socket(&path);
        assert_eq!(check.status == Status::Ok, root, "{check:?}");
        if root {
            set_mode(&path, 0o664);
            assert_eq!(cri_socket(&path).status, Status::Warn);
            set_mode(&path, 0o660);
        }
        drop(listener);
        let stale = cri_socket(&path);
        assert_eq!(stale.status, Status::Fail);
        assert!(
            stale.detail.contains("stale") || stale.detail.contains("not root"),
            "{stale:?}"
        );
    }
}
