//! CreateContainer in a pod with a user namespace of its own (CRI
//! `userns_options` mode POD, the kubelet's `hostUsers: false`): the
//! container joins the pause process's user namespace, asks for nothing
//! else, and the pod's hosts, hostname and resolv.conf are id-mapped
//! through it; the kubelet's mounts are id-mapped where it sent mappings.

use std::path::PathBuf;

use cradle_proto::cri;

use super::manager::ContainerManager;
use super::spec::UserNsJoin;
use crate::core::error::{Error, Result};
use crate::pods::SandboxRecord;
use crate::pods::userns::pod_mappings;

/// The field a container's user namespace is asked for in.
const FIELD: &str = "config.linux.security_context.namespace_options.userns_options";

/// The container's user namespace must be its pod's: with the pod's own,
/// none asked for, or mode POD with no mappings or the pod's; in a pod
/// with the node's, none but the node's.
pub(crate) fn check_container(
    config: &cri::ContainerConfig,
    pod: Option<&(Vec<cri::IdMapping>, Vec<cri::IdMapping>)>,
) -> Result<()> {
    let asked = config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.as_ref())
        .and_then(|o| o.userns_options.as_ref());
    let Some(asked) = asked else {
        return Ok(());
    };
    let has_maps = !asked.uids.is_empty() || !asked.gids.is_empty();
    let same = match pod {
        Some((uids, gids)) => {
            asked.mode == cri::NamespaceMode::Pod as i32
                && (!has_maps || (asked.uids == *uids && asked.gids == *gids))
        }
        None => !has_maps && asked.mode != cri::NamespaceMode::Container as i32,
    };
    if same {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "{FIELD}: a container's user namespace must be its pod's ({})",
        if pod.is_some() {
            "mode POD with the pod's uid and gid mappings"
        } else {
            "the node's"
        }
    )))
}

/// Id-maps the pod's own files the daemon binds (`ours(i)`: mount `i` is
/// one, its hostname, hosts and resolv.conf, owned by the node's root),
/// so they show as the container's root's. The kubelet's mounts keep what
/// it asked for: id-mapped where it sent mappings (then the volume's ids
/// on disk are the container's), else plain binds, where the container
/// writes as its mapped host ids and cannot write what the node's ids own.
/// An image volume (`image_volume(i)`) is a read-only overlay, which the
/// kernel cannot id-map: it stays a plain bind (its files show as the
/// overflow id), whatever mappings came with it.
pub(crate) fn idmap_mounts(
    mounts: &mut [cri::Mount],
    ours: impl Fn(usize) -> bool,
    image_volume: impl Fn(usize) -> bool,
    user: &UserNsJoin,
) {
    for (i, m) in mounts.iter_mut().enumerate() {
        if image_volume(i) {
            m.uid_mappings.clear();
            m.gid_mappings.clear();
            continue;
        }
        if !ours(i) || m.host_path.is_empty() || !m.uid_mappings.is_empty() {
            continue;
        }
        m.uid_mappings = user.uids.clone();
        m.gid_mappings = user.gids.clone();
    }
}

impl ContainerManager {
    /// The pod's user namespace the container joins, checked against what
    /// its config asks for; `None` for a pod in the node's.
    pub(super) async fn pod_user_ns(
        &self,
        config: &cri::ContainerConfig,
        sandbox: &SandboxRecord,
    ) -> Result<Option<UserNsJoin>> {
        let pod = pod_mappings(&sandbox.config);
        check_container(config, pod.as_ref())?;
        let Some((uids, gids)) = pod else {
            return Ok(None);
        };
        let shim = self
            .ctx
            .shims
            .connect(&sandbox.typed_id().shim(), &sandbox.shim_dir);
        let state = shim.state().await.map_err(Error::of_shim(shim.id()))?;
        let path = PathBuf::from(format!("/proc/{}/ns/user", state.pid));
        if std::fs::read_link(&path).ok() == std::fs::read_link("/proc/self/ns/user").ok() {
            return Err(Error::FailedPrecondition(format!(
                "{FIELD}: pod {} has no user namespace of its own (its pause process is in the \
                 node's)",
                sandbox.id
            )));
        }
        Ok(Some(UserNsJoin { path, uids, gids }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(host_id: u32) -> Vec<cri::IdMapping> {
        vec![cri::IdMapping {
            host_id,
            container_id: 0,
            length: 65536,
        }]
    }

    fn container(userns: Option<cri::UserNamespace>) -> cri::ContainerConfig {
        cri::ContainerConfig {
            linux: Some(cri::LinuxContainerConfig {
                security_context: Some(cri::LinuxContainerSecurityContext {
                    namespace_options: Some(cri::NamespaceOption {
                        userns_options: userns,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod_mode(uids: Vec<cri::IdMapping>) -> Option<cri::UserNamespace> {
        Some(cri::UserNamespace {
            mode: cri::NamespaceMode::Pod as i32,
            gids: uids.clone(),
            uids,
        })
    }

    #[test]
    fn a_container_joins_its_pods_user_namespace_and_no_other() {
        let pod = (map(65536), map(65536));
        assert!(check_container(&container(pod_mode(map(65536))), Some(&pod)).is_ok());
        assert!(check_container(&container(None), Some(&pod)).is_ok());
        assert!(check_container(&container(pod_mode(vec![])), Some(&pod)).is_ok());
        let other = check_container(&container(pod_mode(map(131072))), Some(&pod)).unwrap_err();
        assert!(
            matches!(other, Error::InvalidArgument(ref m) if m.contains(FIELD)),
            "{other}"
        );
        let node = Some(cri::UserNamespace {
            mode: cri::NamespaceMode::Node as i32,
            ..Default::default()
        });
        assert!(check_container(&container(node.clone()), Some(&pod)).is_err());
        assert!(check_container(&container(node), None).is_ok());
        assert!(check_container(&container(pod_mode(map(65536))), None).is_err());
    }

    #[test]
    fn the_pods_files_get_the_pods_mappings_the_kubelets_mounts_stay_image_volumes_unmapped() {
        let user = UserNsJoin {
            path: "/proc/1/ns/user".into(),
            uids: map(65536),
            gids: map(65536),
        };
        let bind = |host: &str, uids| cri::Mount {
            container_path: "/c".into(),
            host_path: host.into(),
            uid_mappings: uids,
            ..Default::default()
        };
        let mut mounts = vec![
            bind("/srv", vec![]),
            bind("/vol", vec![]),
            bind("/own", map(7)),
        ];
        mounts.push(bind("/image-volume", map(65536)));
        idmap_mounts(&mut mounts, |i| i != 1, |i| i == 3, &user);
        assert_eq!(mounts[0].uid_mappings, map(65536));
        assert_eq!(mounts[0].gid_mappings, map(65536));
        assert!(mounts[1].uid_mappings.is_empty());
        assert_eq!(mounts[2].uid_mappings, map(7));
        assert!(mounts[3].uid_mappings.is_empty() && mounts[3].gid_mappings.is_empty());
    }
}
