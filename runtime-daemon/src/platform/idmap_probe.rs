//! Whether this kernel can give a pod in its own user namespace its
//! rootfs as the snapshotter makes it: overlayfs itself cannot be id-mapped,
//! but since Linux 5.19 its lower layers may be id-mapped mounts. A scratch
//! directory on the snapshots' filesystem is cloned as a detached tree
//! (`open_tree(OPEN_TREE_CLONE)`), its ids mapped through a fresh user
//! namespace (`mount_setattr(MOUNT_ATTR_IDMAP)`) and an overlay mounted
//! over it as its lower layer, by the snapshotter's own
//! [`cradle_snapshotter::idmapped_tree`]. Nothing is left mounted; the
//! answer is the kernel's, never assumed.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The mapping of the probe's user namespace (any will do).
const PROBE_MAP: &str = "0 1000000 65536\n";

/// True when an overlay mounted under `scratch_parent` (on the filesystem
/// that holds the snapshots) can be id-mapped. Blocking; needs root.
pub fn overlay_supports_idmap(scratch_parent: &Path) -> bool {
    match probe(scratch_parent) {
        Ok(()) => true,
        Err(why) => {
            tracing::info!("id-mapped overlay mounts unavailable: {why}");
            false
        }
    }
}

fn probe(scratch_parent: &Path) -> Result<(), String> {
    let scratch = Scratch::new(scratch_parent)?;
    let userns = Userns::new()?;
    let lower = cradle_snapshotter::idmapped_tree(&scratch.dir.join("lower"), userns.fd.as_fd())
        .map_err(|e| e.to_string())?;
    let lower = format!("/proc/self/fd/{}", lower.as_raw_fd());
    scratch.overlay(&lower)
}

/// The probe's directories, and the overlay over them; unmounted and
/// removed when dropped.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(parent: &Path) -> Result<Scratch, String> {
        let dir = parent.join(format!("idmap-probe-{}", std::process::id()));
        for sub in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| format!("creating {}: {e}", dir.join(sub).display()))?;
        }
        Ok(Scratch { dir })
    }

    /// Mounts an overlay over `lower` (a path) and our upper and work dirs.
    fn overlay(&self, lower: &str) -> Result<(), String> {
        let merged = self.dir.join("merged");
        let data = format!(
            "lowerdir={lower},upperdir={},workdir={}",
            self.dir.join("upper").display(),
            self.dir.join("work").display()
        );
        nix::mount::mount(
            Some("overlay"),
            &merged,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(|e| format!("an overlay over an id-mapped lower layer: {e}"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let merged = self.dir.join("merged");
        let _ = nix::mount::umount2(&merged, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A user namespace with [`PROBE_MAP`], held by a descriptor; its helper
/// process (blocked reading its stdin) is ended when dropped.
struct Userns {
    fd: OwnedFd,
    helper: Child,
}

impl Userns {
    fn new() -> Result<Userns, String> {
        let mut command = Command::new("/bin/cat");
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec the child only makes the unshare
        // system call, which is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
                    .map_err(std::io::Error::from)
            });
        }
        let mut helper = command
            .spawn()
            .map_err(|e| format!("starting the user namespace helper: {e}"))?;
        let proc_dir = PathBuf::from(format!("/proc/{}", helper.id()));
        let made = (|| {
            for map in ["uid_map", "gid_map"] {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(proc_dir.join(map))
                    .and_then(|mut f| f.write_all(PROBE_MAP.as_bytes()))
                    .map_err(|e| format!("writing {map}: {e}"))?;
            }
            std::fs::File::open(proc_dir.join("ns/user"))
                .map(OwnedFd::from)
                .map_err(|e| format!("opening the user namespace: {e}"))
        })();
        match made {
            Ok(fd) => Ok(Userns { fd, helper }),
            Err(e) => {
                end(&mut helper);
                Err(e)
            }
        }
    }
}

impl Drop for Userns {
    fn drop(&mut self) {
        end(&mut self.helper);
    }
}

fn end(helper: &mut Child) {
    drop(helper.stdin.take());
    let _ = helper.kill();
    let _ = helper.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let supported = overlay_supports_idmap(dir.path());
        eprintln!("id-mapped overlay lower layers: {supported}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains("idmap-probe-"));
    }
}
