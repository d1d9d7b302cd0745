//! `NamespaceOption.userns_options` at the boundary: exactly what the
//! kubelet sends for `hostUsers: false` (mode POD, one uid and one gid
//! range starting at container id 0, as containerd and CRI-O require), or
//! the node's user namespace (mode NODE, no mappings). Other modes are
//! refused by name, as are the node's network, pid or IPC namespace in a
//! pod with its own user namespace (`Status` reports
//! `user_namespaces_host_network: false`; the node's /proc and IPC
//! objects cannot be mounted or owned from inside it).

use cradle_proto::cri;
use tonic::Status;

/// Where in a config the namespace options are.
pub(super) const OPTIONS: &str = "linux.security_context.namespace_options";

/// Checks the user namespace `options` ask for. `pod`: a sandbox's
/// options, whose mode POD must carry the mappings (a container's may
/// leave them out: it joins its pod's).
pub(super) fn check(options: Option<&cri::NamespaceOption>, pod: bool) -> Result<(), Status> {
    let Some(options) = options else {
        return Ok(());
    };
    let Some(userns) = options.userns_options.as_ref() else {
        return Ok(());
    };
    let field = format!("{OPTIONS}.userns_options");
    let has_maps = !userns.uids.is_empty() || !userns.gids.is_empty();
    match cri::NamespaceMode::try_from(userns.mode) {
        Ok(cri::NamespaceMode::Node) if has_maps => Err(Status::invalid_argument(format!(
            "{field}: mode NODE (the node's user namespace) takes no uids or gids"
        ))),
        Ok(cri::NamespaceMode::Node) => Ok(()),
        Ok(cri::NamespaceMode::Pod) if !has_maps && !pod => Ok(()),
        Ok(cri::NamespaceMode::Pod) => {
            mapping(&userns.uids, &format!("{field}.uids"))?;
            mapping(&userns.gids, &format!("{field}.gids"))?;
            node_namespaces(options)
        }
        Ok(other) => Err(Status::invalid_argument(format!(
            "{field}: mode {} is not supported: a pod's containers share the pod's user \
             namespace (POD) or the node's (NODE)",
            other.as_str_name()
        ))),
        Err(_) => Err(Status::invalid_argument(format!(
            "{field}: unknown mode {}",
            userns.mode
        ))),
    }
}

/// One range, from container id 0, non-empty, within the 32-bit ids, not
/// giving the node's root away.
fn mapping(maps: &[cri::IdMapping], field: &str) -> Result<(), Status> {
    let [m] = maps else {
        return Err(Status::invalid_argument(format!(
            "{field}: exactly one mapping is supported, got {}",
            maps.len()
        )));
    };
    if m.container_id != 0 {
        return Err(Status::invalid_argument(format!(
            "{field}[0].container_id: must be 0 (the container's root must be mapped), got {}",
            m.container_id
        )));
    }
    if m.length == 0 {
        return Err(Status::invalid_argument(format!(
            "{field}[0].length: must be greater than 0"
        )));
    }
    if u64::from(m.host_id) + u64::from(m.length) > 1 << 32 {
        return Err(Status::invalid_argument(format!(
            "{field}[0]: host_id {} + length {} overflows the 32-bit ids",
            m.host_id, m.length
        )));
    }
    if m.host_id == 0 {
        return Err(Status::invalid_argument(format!(
            "{field}[0].host_id: 0 would map the node's root into the pod"
        )));
    }
    Ok(())
}

/// The node's network, pid or IPC namespace with a user namespace of the
/// pod's own.
fn node_namespaces(options: &cri::NamespaceOption) -> Result<(), Status> {
    let node = cri::NamespaceMode::Node as i32;
    for (name, mode) in [
        ("network", options.network),
        ("pid", options.pid),
        ("ipc", options.ipc),
    ] {
        if mode == node {
            return Err(Status::invalid_argument(format!(
                "{OPTIONS}.{name}: the node's {name} namespace cannot be used with a user \
                 namespace of the pod's own (userns_options mode POD)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn range(host_id: u32, container_id: u32, length: u32) -> cri::IdMapping {
        cri::IdMapping {
            host_id,
            container_id,
            length,
        }
    }

    fn options(mode: cri::NamespaceMode, uids: Vec<cri::IdMapping>) -> cri::NamespaceOption {
        cri::NamespaceOption {
            pid: cri::NamespaceMode::Container as i32,
            userns_options: Some(cri::UserNamespace {
                mode: mode as i32,
                gids: uids.clone(),
                uids,
            }),
            ..Default::default()
        }
    }

    fn refused(o: &cri::NamespaceOption, pod: bool, names: &str) {
        let err = check(Some(o), pod).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
        assert!(err.message().contains(names), "{}", err.message());
    }

    #[test]
    fn what_the_kubelet_sends_is_accepted() {
        let kubelet = options(
            cri::NamespaceMode::Pod,
            vec![range(3_556_966_400, 0, 65536)],
        );
        assert!(check(Some(&kubelet), true).is_ok());
        assert!(check(Some(&kubelet), false).is_ok());
        let critest = options(cri::NamespaceMode::Pod, vec![range(1000, 0, 100_000)]);
        assert!(check(Some(&critest), true).is_ok());
        assert!(check(Some(&options(cri::NamespaceMode::Node, vec![])), true).is_ok());
        assert!(check(None, true).is_ok());
        // A container may leave the mappings to its pod.
        assert!(check(Some(&options(cri::NamespaceMode::Pod, vec![])), false).is_ok());
    }

    #[test]
    fn other_modes_and_bad_mappings_are_refused_by_field() {
        let field = "namespace_options.userns_options";
        refused(&options(cri::NamespaceMode::Container, vec![]), true, field);
        refused(&options(cri::NamespaceMode::Target, vec![]), true, field);
        let node_maps = options(cri::NamespaceMode::Node, vec![range(1000, 0, 10)]);
        refused(&node_maps, true, "mode NODE");
        refused(&options(cri::NamespaceMode::Pod, vec![]), true, ".uids");
        let two = vec![range(1000, 0, 100_000), range(2000, 0, 100_000)];
        refused(&options(cri::NamespaceMode::Pod, two), true, "exactly one");
        let not_root = vec![range(1000, 1, 100_000)];
        refused(
            &options(cri::NamespaceMode::Pod, not_root),
            true,
            "container_id",
        );
        refused(
            &options(cri::NamespaceMode::Pod, vec![range(1000, 0, 0)]),
            true,
            "length",
        );
        let past = vec![range(u32::MAX, 0, 2)];
        refused(&options(cri::NamespaceMode::Pod, past), true, "overflows");
        refused(
            &options(cri::NamespaceMode::Pod, vec![range(0, 0, 10)]),
            true,
            "host_id",
        );
    }

    #[test]
    fn the_nodes_namespaces_are_refused_with_a_pod_user_namespace() {
        let maps = vec![range(65536, 0, 65536)];
        let mut host_net = options(cri::NamespaceMode::Pod, maps.clone());
        host_net.network = cri::NamespaceMode::Node as i32;
        refused(&host_net, true, "namespace_options.network");
        let mut host_pid = options(cri::NamespaceMode::Pod, maps);
        host_pid.pid = cri::NamespaceMode::Node as i32;
        refused(&host_pid, true, "namespace_options.pid");
    }
}
