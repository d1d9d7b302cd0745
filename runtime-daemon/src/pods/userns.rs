//! A pod's own user namespace (CRI `userns_options` mode POD, the
//! kubelet's `hostUsers: false`): its mappings, as the pod's config holds
//! them (checked at the service boundary: one uid and one gid range from
//! container id 0), and the shim's flags that make the pause process
//! create it. Its containers join it (see `containers::userns`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use cradle_proto::cri;

use crate::core::error::{Error, Result};

/// The field a pod's user namespace is asked for in.
const FIELD: &str = "config.linux.security_context.namespace_options.userns_options";

/// The pod's own user namespace's uid and gid mappings; `None` when the
/// pod stays in the node's.
pub fn pod_mappings(
    config: &cri::PodSandboxConfig,
) -> Option<(Vec<cri::IdMapping>, Vec<cri::IdMapping>)> {
    let userns = config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.as_ref())
        .and_then(|o| o.userns_options.as_ref())?;
    (userns.mode == cri::NamespaceMode::Pod as i32 && !userns.uids.is_empty())
        .then(|| (userns.uids.clone(), userns.gids.clone()))
}

/// `--uid-map C:H:L --gid-map C:H:L` for `cradle-shim sandbox`, one pair
/// per range; nothing for a pod in the node's user namespace. A kernel
/// that cannot make one is refused by name, before anything is created.
///
/// The containers' bundles live under `root`: the pod's root, outside the
/// node's ids, must be able to walk to them, so every directory from `/`
/// to `root` must be searchable by others (0711, as containerd and CRI-O
/// ask of theirs); one that is not is refused by name.
pub(super) fn shim_args(config: &cri::PodSandboxConfig, root: &Path) -> Result<Vec<OsString>> {
    let Some((uids, gids)) = pod_mappings(config) else {
        return Ok(Vec::new());
    };
    if let Some(closed) = closed_ancestor(root) {
        return Err(Error::FailedPrecondition(format!(
            "{FIELD}: {} is not searchable by others (mode o+x), so a pod in its own user \
             namespace cannot reach its containers' root filesystems under {}: make it 0711",
            closed.display(),
            root.display()
        )));
    }
    if !kernel_has_user_namespaces() {
        return Err(Error::FailedPrecondition(format!(
            "{FIELD}: this node's kernel cannot create user namespaces \
             (user.max_user_namespaces is 0, or no CONFIG_USER_NS)"
        )));
    }
    let flag = |name: &str, maps: &[cri::IdMapping]| -> Vec<OsString> {
        maps.iter()
            .flat_map(|m| {
                [
                    OsString::from(name),
                    format!("{}:{}:{}", m.container_id, m.host_id, m.length).into(),
                ]
            })
            .collect()
    };
    let mut args = flag("--uid-map", &uids);
    args.extend(flag("--gid-map", &gids));
    Ok(args)
}

/// The first directory from `/` down to `dir` that others cannot search.
fn closed_ancestor(dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut path = PathBuf::from("/");
    let mut walk = vec![path.clone()];
    for part in dir.components().skip(1) {
        path.push(part);
        walk.push(path.clone());
    }
    walk.into_iter().find(|d| {
        std::fs::metadata(d).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o001 == 0)
    })
}

/// `/proc/self/ns/user` exists and `user.max_user_namespaces` allows one.
fn kernel_has_user_namespaces() -> bool {
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces");
    std::path::Path::new("/proc/self/ns/user").exists()
        && max.is_ok_and(|m| m.trim().parse::<u64>().is_ok_and(|n| n > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(mode: cri::NamespaceMode, host_id: u32) -> cri::PodSandboxConfig {
        let maps = vec![cri::IdMapping {
            host_id,
            container_id: 0,
            length: 65536,
        }];
        cri::PodSandboxConfig {
            linux: Some(cri::LinuxPodSandboxConfig {
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(cri::NamespaceOption {
                        userns_options: Some(cri::UserNamespace {
                            mode: mode as i32,
                            uids: maps.clone(),
                            gids: maps,
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A directory every id can walk to.
    fn open() -> &'static Path {
        Path::new("/")
    }

    #[test]
    fn a_root_under_a_closed_directory_is_refused_by_name() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let closed = dir.path().join("closed");
        let root = closed.join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(closed_ancestor(&root).as_deref(), Some(closed.as_path()));
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o711)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        assert_eq!(closed_ancestor(&root), None);
        if kernel_has_user_namespaces() {
            std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
            let err = shim_args(&pod(cri::NamespaceMode::Pod, 65536), &root).unwrap_err();
            assert!(err.to_string().contains("make it 0711"), "{err}");
            assert!(
                err.to_string().contains(&*closed.to_string_lossy()),
                "{err}"
            );
        }
    }

    #[test]
    fn the_pause_gets_the_pods_maps_as_shim_flags() {
        if !kernel_has_user_namespaces() {
            let refused = shim_args(&pod(cri::NamespaceMode::Pod, 65536), open()).unwrap_err();
            assert!(refused.to_string().contains("userns_options"), "{refused}");
            return;
        }
        let args = shim_args(&pod(cri::NamespaceMode::Pod, 3_556_966_400), open()).unwrap();
        let args: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
        assert_eq!(
            args,
            [
                "--uid-map",
                "0:3556966400:65536",
                "--gid-map",
                "0:3556966400:65536"
            ]
        );
        assert!(
            shim_args(&pod(cri::NamespaceMode::Node, 0), open())
                .unwrap()
                .is_empty()
        );
        assert!(
            shim_args(&cri::PodSandboxConfig::default(), open())
                .unwrap()
                .is_empty()
        );
    }
}
