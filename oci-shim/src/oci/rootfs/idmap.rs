//! Id-mapped bind mounts (runtime-spec 1.2: the `idmap`/`ridmap` options
//! and a mount's `uidMappings`/`gidMappings`), prepared by `create` in the
//! host's namespaces, where it holds CAP_SYS_ADMIN over the source's
//! filesystem (which the container's root, in its own user namespace,
//! does not):
//!
//! 1. a short-lived helper process unshares a user namespace, `create`
//!    writes the mapping into it and keeps a descriptor of it;
//! 2. `open_tree(OPEN_TREE_CLONE)` makes a detached copy of the source;
//! 3. `mount_setattr(MOUNT_ATTR_IDMAP, userns)` maps that copy's ids.
//!
//! In a container with its own user namespace every other bind source is
//! cloned here too (without a mapping), since the container's root may
//! not reach it by path. The init inherits the detached trees and attaches
//! each with move_mount in place of its bind mount ([`crate::oci::rootfs::mounts`]). A mount without its own
//! mappings uses the container's user namespace mappings, as the spec says.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::sched::CloneFlags;
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork};

use crate::oci::error::{OciError, Result};
use crate::oci::process::userns::map_lines;
use crate::oci::rootfs::mountapi::{self, Attrs};
use crate::oci::rootfs::mounts::{Idmap, IdmapTrees, has_mappings, parse_options};
use crate::oci::security::hardening;
use crate::spec::{Linux, LinuxIdMapping, Mount};

/// Prepares the detached, id-mapped tree of every mount that asks for one.
/// `container_userns` is true when the container gets a user namespace
/// whose mappings (`linux.uidMappings`) serve mounts without their own.
pub(crate) fn prepare(
    mounts: &[Mount],
    linux: &Linux,
    container_userns: bool,
) -> Result<IdmapTrees> {
    let mut trees = IdmapTrees::new();
    // One helper namespace per distinct mapping.
    let mut namespaces: Vec<((String, String), OwnedFd)> = Vec::new();
    for (i, m) in mounts.iter().enumerate() {
        let opts = parse_options(m.options.as_deref().unwrap_or(&[]));
        let is_bind = opts.bind || m.typ.as_deref() == Some("bind");
        if opts.idmap.is_none() && !has_mappings(m) {
            if is_bind
                && container_userns
                && let Some(tree) = plain_tree(m, opts.recursive)?
            {
                trees.insert(i, tree);
            }
            continue;
        }
        let dest = m.destination.display().to_string();
        if !is_bind {
            // mounts::mount_one refuses it with the reason.
            continue;
        }
        let maps = mappings(m, linux, container_userns)?;
        let userns = match namespaces.iter().find(|(k, _)| *k == maps) {
            Some((_, fd)) => fd,
            None => {
                let fd = helper_userns(&maps.0, &maps.1)?;
                namespaces.push((maps.clone(), fd));
                &namespaces[namespaces.len() - 1].1
            }
        };
        let source = m
            .source
            .as_ref()
            .ok_or_else(|| OciError::Unsupported(format!("bind mount to {dest} without source")))?;
        let recursive_map = opts.idmap == Some(Idmap::Recursive);
        let tree = idmapped_tree(source, opts.recursive, recursive_map, userns)?;
        trees.insert(i, tree);
    }
    Ok(trees)
}

/// A detached copy of an absolute bind source, made here for a container
/// with its own user namespace: its root may not be able to reach the
/// source by path (the kubelet's pod directories are 0750 root), as runc
/// also opens bind sources before the container's namespaces. A relative
/// source (to the bundle) is left to the init.
fn plain_tree(m: &Mount, rbind: bool) -> Result<Option<OwnedFd>> {
    let Some(source) = m.source.as_deref().filter(|s| s.is_absolute()) else {
        return Ok(None);
    };
    mountapi::clone_tree(source, rbind)
        .map(Some)
        .or_else(|e| match e {
            // Without the mount API the init binds by path, as before.
            nix::Error::ENOSYS => Ok(None),
            e => Err(OciError::sys(
                format!(
                    "open_tree {} (bind source of {})",
                    source.display(),
                    m.destination.display()
                ),
                e,
            )),
        })
}

/// The `(uid_map, gid_map)` text for a mount: its own, or the container's.
fn mappings(m: &Mount, linux: &Linux, container_userns: bool) -> Result<(String, String)> {
    let dest = m.destination.display();
    let own = |v: &Option<Vec<LinuxIdMapping>>| v.clone().filter(|v| !v.is_empty());
    let (uids, gids) = match (own(&m.uid_mappings), own(&m.gid_mappings)) {
        (Some(u), Some(g)) => (u, g),
        (None, None) if container_userns => (
            linux.uid_mappings.clone().unwrap_or_default(),
            linux.gid_mappings.clone().unwrap_or_default(),
        ),
        (None, None) => {
            return Err(OciError::Unsupported(format!(
                "id-mapped mount {dest} without uidMappings/gidMappings in a container \
                 without a user namespace"
            )));
        }
        _ => {
            return Err(OciError::Unsupported(format!(
                "mount {dest}: uidMappings and gidMappings must be given together"
            )));
        }
    };
    if uids.is_empty() || gids.is_empty() {
        return Err(OciError::Unsupported(format!(
            "id-mapped mount {dest}: the container's user namespace has no mappings"
        )));
    }
    Ok((map_lines(&uids), map_lines(&gids)))
}

/// Kills and reaps the helper on every path out of [`helper_userns`].
struct Helper(Pid);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGKILL);
        let _ = waitpid(self.0, None);
    }
}

/// A descriptor of a new user namespace with the given maps. The helper
/// that owns it only unshares and waits; the namespace outlives it
/// through the descriptor.
fn helper_userns(uid_map: &str, gid_map: &str) -> Result<OwnedFd> {
    let (ready_r, ready_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| OciError::sys("pipe", e))?;
    // SAFETY: cradle-oci is single-threaded, so the child is a complete
    // copy; it only makes raw system calls and never returns.
    match unsafe { fork() }.map_err(|e| OciError::sys("fork id-map helper", e))? {
        ForkResult::Child => {
            drop(ready_r);
            // Gone with `create`, whatever happens to it.
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            let ok = nix::sched::unshare(CloneFlags::CLONE_NEWUSER).is_ok()
                && nix::unistd::write(&ready_w, b"1").is_ok();
            drop(ready_w);
            if ok {
                // Bounded by `create`, which kills us as soon as it holds
                // the namespace.
                loop {
                    nix::unistd::pause();
                }
            }
            // SAFETY: _exit leaves the forked child without running the
            // destructors that belong to the `create` process.
            unsafe { libc::_exit(1) }
        }
        ForkResult::Parent { child } => {
            let helper = Helper(child);
            drop(ready_w);
            let mut byte = [0u8; 1];
            let n = nix::unistd::read(&ready_r, &mut byte)
                .map_err(|e| OciError::sys("read from id-map helper", e))?;
            if n != 1 {
                return Err(OciError::Init(
                    "id-map helper could not create a user namespace".into(),
                ));
            }
            let proc_dir = format!("/proc/{}", helper.0);
            hardening::write_proc_file(Path::new(&format!("{proc_dir}/uid_map")), uid_map)?;
            hardening::write_proc_file(Path::new(&format!("{proc_dir}/gid_map")), gid_map)?;
            let ns = format!("{proc_dir}/ns/user");
            open(
                ns.as_str(),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| OciError::sys(format!("open {ns}"), e))
        }
    }
}

/// A detached copy of `source` (with its submounts when `rbind`), its ids
/// mapped through `userns` (in every submount too when `recursive_map`).
fn idmapped_tree(
    source: &Path,
    rbind: bool,
    recursive_map: bool,
    userns: &OwnedFd,
) -> Result<OwnedFd> {
    let tree = mountapi::clone_tree(source, rbind).map_err(|e| match e {
        nix::Error::ENOSYS => OciError::Unsupported(
            "id-mapped mounts need open_tree and mount_setattr (Linux 5.12)".into(),
        ),
        e => OciError::sys(format!("open_tree {}", source.display()), e),
    })?;
    let attrs = Attrs {
        set: mountapi::ATTR_IDMAP,
        clr: 0,
    };
    mountapi::setattr(tree.as_fd(), recursive_map, attrs, Some(userns.as_fd())).map_err(
        |e| match e {
            nix::Error::EINVAL => OciError::Unsupported(format!(
                "id-mapped mount of {}: its filesystem does not support id-mapped mounts \
                 (or the mapping is invalid)",
                source.display()
            )),
            e => OciError::sys(format!("id-map the mount of {}", source.display()), e),
        },
    )?;
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(v: serde_json::Value) -> Mount {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn mappings_come_from_the_mount_or_the_container() {
        let linux: Linux = serde_json::from_value(serde_json::json!({
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}]
        }))
        .unwrap();
        let own = mount(serde_json::json!({
            "destination": "/d", "source": "/s", "type": "bind", "options": ["bind"],
            "uidMappings": [{"containerID": 5, "hostID": 7, "size": 1}],
            "gidMappings": [{"containerID": 6, "hostID": 8, "size": 1}]
        }));
        assert_eq!(
            mappings(&own, &linux, true).unwrap(),
            ("5 7 1\n".to_string(), "6 8 1\n".to_string())
        );
        let plain = mount(serde_json::json!({
            "destination": "/d", "source": "/s", "type": "bind", "options": ["bind", "idmap"]
        }));
        assert_eq!(
            mappings(&plain, &linux, true).unwrap(),
            (
                "0 100000 65536\n".to_string(),
                "0 200000 65536\n".to_string()
            )
        );
        let e = mappings(&plain, &linux, false).unwrap_err();
        assert!(e.to_string().contains("without a user namespace"), "{e}");
        let half = mount(serde_json::json!({
            "destination": "/d", "source": "/s", "options": ["bind"],
            "uidMappings": [{"containerID": 5, "hostID": 7, "size": 1}]
        }));
        assert!(mappings(&half, &linux, true).is_err());
    }
}
