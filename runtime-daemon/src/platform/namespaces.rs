//! Pod namespaces, pinned by bind mounts so they outlive every process in them.
//!
//! A dedicated thread unshares the namespaces, sets the pod's hostname and
//! brings `lo` up, bind-mounts its `/proc/thread-self/ns/<kind>` links onto
//! empty files under `<state-dir>/ns/<sandbox-id>/`, and exits; the mounts keep
//! the namespaces alive until [`unpin`]. A fresh thread is used because unshare
//! changes the calling thread for good, and a pooled thread would carry the
//! pod's namespaces into unrelated work.

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Errors of creating or removing namespace pins. Each names the step;
/// the system's error stays its source (the daemon's error prints the chain).
#[derive(Debug, thiserror::Error)]
pub enum NsError {
    /// A mount or unmount of a pin failed.
    #[error("{op} {}", path.display())]
    Sys {
        /// What was being done ("bind-mounting", "unmounting").
        op: &'static str,
        /// The pin.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: nix::Error,
    },
    /// Creating or removing a pin file or directory failed.
    #[error("{op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The namespaces could not be created.
    #[error("unshare({flags:?})")]
    Unshare {
        /// The namespaces asked for.
        flags: CloneFlags,
        /// The system's error.
        #[source]
        source: nix::Error,
    },
    /// The pod's hostname could not be set in its UTS namespace.
    #[error("setting hostname {hostname:?}")]
    Hostname {
        /// The hostname asked for.
        hostname: String,
        /// The system's error.
        #[source]
        source: nix::Error,
    },
    /// The loopback interface of the new network namespace stayed down.
    #[error("bringing lo up")]
    Loopback(#[source] nix::Error),
    /// The thread that unshares panicked.
    #[error("the namespace thread panicked")]
    ThreadPanicked,
}

/// Which namespaces a pod gets of its own.
#[derive(Debug, Clone, Default)]
pub struct PinRequest {
    /// A network namespace of its own (not host networking).
    pub net: bool,
    /// An IPC namespace of its own.
    pub ipc: bool,
    /// A UTS namespace of its own (its own hostname).
    pub uts: bool,
    /// Set in the new UTS namespace when non-empty.
    pub hostname: String,
}

/// The pins of one pod; `None` means the host's namespace is used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pins {
    /// The pod's pin directory (`<state-dir>/ns/<sandbox-id>`).
    pub dir: PathBuf,
    /// The pinned network namespace.
    pub net: Option<PathBuf>,
    /// The pinned IPC namespace.
    pub ipc: Option<PathBuf>,
    /// The pinned UTS namespace.
    pub uts: Option<PathBuf>,
}

impl Pins {
    fn all(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.net, &self.ipc, &self.uts].into_iter().flatten()
    }
}

/// Creates the requested namespaces and pins them under `dir` (created here).
/// On failure nothing is left behind.
pub fn pin(dir: &Path, request: &PinRequest) -> Result<Pins, NsError> {
    std::fs::create_dir_all(dir).map_err(|source| NsError::Io {
        op: "creating",
        path: dir.to_path_buf(),
        source,
    })?;
    let dir_owned = dir.to_path_buf();
    let request = request.clone();
    let joined = std::thread::Builder::new()
        .name("cradle-netns".into())
        .spawn(move || pin_on_this_thread(&dir_owned, &request))
        .map_err(|source| NsError::Io {
            op: "spawning namespace thread for",
            path: dir.to_path_buf(),
            source,
        })?
        .join();
    let result = joined.unwrap_or(Err(NsError::ThreadPanicked));
    if result.is_err() {
        let _ = std::fs::remove_dir(dir);
    }
    result
}

/// Runs on a thread that exits right after: unshare, configure, bind-mount.
fn pin_on_this_thread(dir: &Path, request: &PinRequest) -> Result<Pins, NsError> {
    let mut flags = CloneFlags::empty();
    if request.net {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if request.ipc {
        flags |= CloneFlags::CLONE_NEWIPC;
    }
    if request.uts {
        flags |= CloneFlags::CLONE_NEWUTS;
    }
    let mut pins = Pins {
        dir: dir.to_path_buf(),
        ..Pins::default()
    };
    if flags.is_empty() {
        return Ok(pins);
    }
    nix::sched::unshare(flags).map_err(|source| NsError::Unshare { flags, source })?;
    if request.uts && !request.hostname.is_empty() {
        nix::unistd::sethostname(&request.hostname).map_err(|source| NsError::Hostname {
            hostname: request.hostname.clone(),
            source,
        })?;
    }
    if request.net {
        set_interface_up("lo").map_err(NsError::Loopback)?;
    }
    let wanted = [
        ("net", request.net),
        ("ipc", request.ipc),
        ("uts", request.uts),
    ];
    for (kind, want) in wanted {
        if !want {
            continue;
        }
        match bind_ns(dir, kind) {
            Ok(path) => match kind {
                "net" => pins.net = Some(path),
                "ipc" => pins.ipc = Some(path),
                _ => pins.uts = Some(path),
            },
            Err(e) => {
                let _ = unpin_files(&pins);
                return Err(e);
            }
        }
    }
    Ok(pins)
}

/// Bind-mounts this thread's namespace of `kind` onto `<dir>/<kind>`.
fn bind_ns(dir: &Path, kind: &str) -> Result<PathBuf, NsError> {
    let target = dir.join(kind);
    std::fs::File::create(&target).map_err(|source| NsError::Io {
        op: "creating pin file",
        path: target.clone(),
        source,
    })?;
    let source_path = PathBuf::from(format!("/proc/thread-self/ns/{kind}"));
    if let Err(source) = nix::mount::mount(
        Some(&source_path),
        &target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        let _ = std::fs::remove_file(&target);
        return Err(NsError::Sys {
            op: "bind-mounting namespace onto",
            path: target,
            source,
        });
    }
    Ok(target)
}

/// Sets IFF_UP on `name` in the calling thread's network namespace.
pub fn set_interface_up(name: &str) -> Result<(), nix::Error> {
    let mut flags = interface_flags(name)?;
    flags |= libc::IFF_UP as libc::c_short;
    let sock = control_socket()?;
    let mut req = ifreq(name);
    req.ifr_ifru.ifru_flags = flags;
    // SAFETY: `sock` is a valid socket fd owned for the call; `req` is a properly
    // initialized ifreq that lives across the call, as SIOCSIFFLAGS requires.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&sock),
            libc::SIOCSIFFLAGS,
            &req,
        )
    };
    nix::errno::Errno::result(rc).map(drop)
}

/// The interface flags (IFF_*) of `name` in the calling thread's network namespace.
pub fn interface_flags(name: &str) -> Result<libc::c_short, nix::Error> {
    let sock = control_socket()?;
    let mut req = ifreq(name);
    // SAFETY: as above; SIOCGIFFLAGS writes only into `req.ifr_ifru.ifru_flags`.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&sock),
            libc::SIOCGIFFLAGS,
            &mut req,
        )
    };
    nix::errno::Errno::result(rc)?;
    // SAFETY: SIOCGIFFLAGS succeeded, so the flags member of the union is initialized.
    Ok(unsafe { req.ifr_ifru.ifru_flags })
}

fn control_socket() -> Result<std::os::fd::OwnedFd, nix::Error> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
}

fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is a plain C struct for which all-zero bytes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in req
        .ifr_name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *slot = byte as libc::c_char;
    }
    req
}

/// Unmounts and deletes the pins and their directory. Idempotent.
pub fn unpin(pins: &Pins) -> Result<(), NsError> {
    unpin_files(pins)?;
    match std::fs::remove_dir(&pins.dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(NsError::Io {
            op: "removing",
            path: pins.dir.clone(),
            source,
        }),
    }
}

fn unpin_files(pins: &Pins) -> Result<(), NsError> {
    for path in pins.all() {
        match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(source) => {
                return Err(NsError::Sys {
                    op: "unmounting",
                    path: path.clone(),
                    source,
                });
            }
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(NsError::Io {
                    op: "removing",
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "namespaces_tests.rs"]
mod tests;
