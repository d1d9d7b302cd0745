//! Unix socket paths of any length.
//!
//! `bind(2)` and `connect(2)` take at most 107 bytes of path (`sun_path`),
//! while the shim's sockets live under `<state-dir>/shims/<64-hex id>/`:
//! a state dir of more than about 25 characters would not fit. So a path
//! that does not fit is reached through its directory: the directory is
//! opened `O_PATH`, and the socket is named `/proc/self/fd/<fd>/<name>`,
//! which the kernel resolves like the long path and which is always short.
//! Other processes (a runtime given `--console-socket`) are given
//! `/proc/<our pid>/fd/<fd>/<name>` for as long as the directory is held.
//!
//! Where the daemon and its shims meet: used by the shim (its three
//! sockets), by `cradle-oci` (its connect to the console socket) and by the
//! daemon (its connects to the shim, and its own exec console sockets).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The longest path `sun_path` holds (108 bytes with the final NUL).
pub const SUN_PATH_MAX: usize = 107;

/// A socket path usable with bind and connect, with the directory it goes
/// through held open while it is used.
#[derive(Debug)]
pub struct ShortPath {
    short: PathBuf,
    dir: Option<File>,
}

impl ShortPath {
    /// `path` itself when it fits, else `/proc/self/fd/<dir fd>/<name>`.
    pub fn new(path: &Path) -> io::Result<ShortPath> {
        if path.as_os_str().as_bytes().len() <= SUN_PATH_MAX {
            return Ok(ShortPath {
                short: path.to_path_buf(),
                dir: None,
            });
        }
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} names no file in a directory", path.display()),
            ));
        };
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        // std opens with O_CLOEXEC already.
        let dir = File::options()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(parent)?;
        let short = Path::new("/proc/self/fd")
            .join(dir.as_raw_fd().to_string())
            .join(name);
        if short.as_os_str().as_bytes().len() > SUN_PATH_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("socket name {name:?} is too long even through its directory"),
            ));
        }
        Ok(ShortPath {
            short,
            dir: Some(dir),
        })
    }

    /// The path for this process's own bind and connect.
    pub fn as_path(&self) -> &Path {
        &self.short
    }

    /// The path for another process (a runtime given `--console-socket`):
    /// the same directory through `/proc/<our pid>`, valid while `self` lives.
    pub fn for_others(&self) -> PathBuf {
        match &self.dir {
            None => self.short.clone(),
            Some(dir) => {
                let name = self.short.file_name().unwrap_or_default();
                PathBuf::from(format!(
                    "/proc/{}/fd/{}",
                    std::process::id(),
                    dir.as_raw_fd()
                ))
                .join(name)
            }
        }
    }
}

/// Binds a listener at `path`, however long.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    UnixListener::bind(ShortPath::new(path)?.as_path())
}

/// Connects to the socket at `path`, however long.
pub fn connect(path: &Path) -> io::Result<UnixStream> {
    UnixStream::connect(ShortPath::new(path)?.as_path())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory whose path alone is longer than `sun_path`.
    fn long_dir() -> (tempfile::TempDir, PathBuf) {
        let top = tempfile::tempdir().unwrap();
        let mut dir = top.path().to_path_buf();
        while dir.as_os_str().len() < 200 {
            dir.push("a-directory-with-a-long-name");
        }
        std::fs::create_dir_all(&dir).unwrap();
        (top, dir)
    }

    #[test]
    fn short_paths_are_used_as_they_are() {
        let p = ShortPath::new(Path::new("/run/x.sock")).unwrap();
        assert_eq!(p.as_path(), Path::new("/run/x.sock"));
        assert_eq!(p.for_others(), PathBuf::from("/run/x.sock"));
    }

    #[test]
    fn long_paths_bind_and_connect_through_their_directory() {
        let (_top, dir) = long_dir();
        let path = dir.join("shim.sock");
        assert!(
            UnixListener::bind(&path).is_err(),
            "the kernel's limit holds"
        );
        let listener = bind(&path).unwrap();
        assert!(path.exists(), "the socket is where the long path says");
        let mut client = connect(&path).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        std::io::Write::write_all(&mut client, b"hi").unwrap();
        let mut got = [0u8; 2];
        std::io::Read::read_exact(&mut server, &mut got).unwrap();
        assert_eq!(&got, b"hi");
        // Another process reaches it through our /proc entry.
        let alias = ShortPath::new(&path).unwrap();
        assert!(alias.for_others().as_os_str().len() <= SUN_PATH_MAX);
        UnixStream::connect(alias.for_others()).unwrap();
    }
}
