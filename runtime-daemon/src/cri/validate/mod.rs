//! Request checks at the service boundary, before anything is created:
//! every field against the kubelet's own limits (`fields`, by the `rules`
//! of names, paths and strings), combinations of fields that containerd
//! refuses before doing any work (a group without a user), and fields this
//! node cannot honour (user namespaces, which `Status` reports as
//! unsupported), refused by name instead of silently ignored.

mod fields;
mod rules;

use cradle_proto::cri;
use tonic::Status;

/// CreateContainer's config.
pub(crate) fn container_config(config: &cri::ContainerConfig) -> Result<(), Status> {
    fields::container(config)?;
    image_volumes_read_only(&config.mounts)?;
    image_sub_paths(&config.mounts)?;
    let security = config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref());
    if let Some(security) = security {
        // containerd: "user group is specified without user". The image's
        // USER may name a user whose group the runtime would then override.
        if security.run_as_group.is_some()
            && security.run_as_user.is_none()
            && security.run_as_username.is_empty()
        {
            return Err(Status::invalid_argument(
                "security_context.run_as_group is set without run_as_user or run_as_username",
            ));
        }
        user_namespace(
            security.namespace_options.as_ref(),
            "linux.security_context.namespace_options.userns_options",
        )?;
    }
    Ok(())
}

/// Image volumes are read-only (KEP 4639: the kubelet always says so); a
/// writable one is refused rather than quietly mounted read-only.
fn image_volumes_read_only(mounts: &[cri::Mount]) -> Result<(), Status> {
    match mounts
        .iter()
        .enumerate()
        .find(|(_, m)| m.image.is_some() && !m.readonly)
    {
        Some((i, m)) => Err(Status::invalid_argument(format!(
            "mounts[{i}] ({}): an image volume must be read-only (readonly: true)",
            m.container_path
        ))),
        None => Ok(()),
    }
}

/// `image_sub_path` names a directory inside an image volume: only on an
/// image volume, relative, without `..` (the kubelet's own subPath rule;
/// symlinks are resolved inside the image at create).
fn image_sub_paths(mounts: &[cri::Mount]) -> Result<(), Status> {
    for (i, m) in mounts.iter().enumerate() {
        let sub = &m.image_sub_path;
        if sub.is_empty() {
            continue;
        }
        let field = format!("config.mounts[{i}].image_sub_path");
        if m.image.is_none() {
            return Err(Status::invalid_argument(format!(
                "{field}: {sub:?} is set on a mount that is not an image volume ({})",
                m.container_path
            )));
        }
        rules::no_nul(&field, sub)?;
        let descending = std::path::Path::new(sub).components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
        if !descending {
            return Err(Status::invalid_argument(format!(
                "{field}: {sub:?} must be a relative path without \"..\""
            )));
        }
    }
    Ok(())
}

/// RunPodSandbox's config.
pub(crate) fn pod_config(config: &cri::PodSandboxConfig) -> Result<(), Status> {
    fields::pod(config)?;
    let options = config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.as_ref());
    user_namespace(
        options,
        "linux.security_context.namespace_options.userns_options",
    )
}

/// A user namespace other than the node's is refused: no runtime handler
/// here advertises `user_namespaces` (see `runtime_info`), so running the
/// pod without one would hand it the node's ids while it asked for others.
fn user_namespace(options: Option<&cri::NamespaceOption>, field: &str) -> Result<(), Status> {
    let Some(userns) = options.and_then(|o| o.userns_options.as_ref()) else {
        return Ok(());
    };
    if userns.mode == cri::NamespaceMode::Node as i32
        && userns.uids.is_empty()
        && userns.gids.is_empty()
    {
        return Ok(());
    }
    Err(Status::failed_precondition(format!(
        "{field}: user namespaces (mode {}) are not supported by this node's runtime handlers \
         (Status reports user_namespaces=false)",
        cri::NamespaceMode::try_from(userns.mode)
            .map(|m| m.as_str_name())
            .unwrap_or("unknown")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn with_security(security: cri::LinuxContainerSecurityContext) -> cri::ContainerConfig {
        cri::ContainerConfig {
            linux: Some(cri::LinuxContainerConfig {
                security_context: Some(security),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn writable_image_volumes_are_refused_by_index() {
        let volume = |readonly| cri::Mount {
            container_path: "/vol".into(),
            readonly,
            image: Some(cri::ImageSpec {
                image: "busybox".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let host = cri::Mount {
            container_path: "/data".into(),
            host_path: "/srv".into(),
            ..Default::default()
        };
        let config = |mounts| cri::ContainerConfig {
            mounts,
            ..Default::default()
        };
        assert!(container_config(&config(vec![host.clone(), volume(true)])).is_ok());
        let err = container_config(&config(vec![host, volume(false)])).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().contains("mounts[1] (/vol)"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn image_sub_paths_are_relative_descending_and_on_image_volumes_only() {
        let mount = |sub: &str, image: bool| cri::Mount {
            container_path: "/img".into(),
            readonly: true,
            image: image.then(|| cri::ImageSpec {
                image: "busybox".into(),
                ..Default::default()
            }),
            host_path: if image { String::new() } else { "/srv".into() },
            image_sub_path: sub.into(),
            ..Default::default()
        };
        let config = |m| cri::ContainerConfig {
            mounts: vec![m],
            ..Default::default()
        };
        for ok in ["bin", "usr/share/./doc", "etc/"] {
            assert!(container_config(&config(mount(ok, true))).is_ok(), "{ok}");
        }
        for bad in ["/etc", "..", "../x", "bin/../..", "a/..", "nul\0"] {
            let err = container_config(&config(mount(bad, true))).unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
            assert!(
                err.message().contains("config.mounts[0].image_sub_path"),
                "{}",
                err.message()
            );
        }
        let err = container_config(&config(mount("bin", false))).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().contains("not an image volume"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn run_as_group_needs_a_user() {
        let group = Some(cri::Int64Value { value: 1002 });
        let alone = with_security(cri::LinuxContainerSecurityContext {
            run_as_group: group,
            ..Default::default()
        });
        let err = container_config(&alone).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("run_as_group"), "{}", err.message());
        let with_uid = with_security(cri::LinuxContainerSecurityContext {
            run_as_group: group,
            run_as_user: Some(cri::Int64Value { value: 0 }),
            ..Default::default()
        });
        assert!(container_config(&with_uid).is_ok());
        let with_name = with_security(cri::LinuxContainerSecurityContext {
            run_as_group: group,
            run_as_username: "nobody".into(),
            ..Default::default()
        });
        assert!(container_config(&with_name).is_ok());
        assert!(container_config(&cri::ContainerConfig::default()).is_ok());
    }

    fn pod_with_userns(userns: cri::UserNamespace) -> cri::PodSandboxConfig {
        cri::PodSandboxConfig {
            linux: Some(cri::LinuxPodSandboxConfig {
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(cri::NamespaceOption {
                        userns_options: Some(userns),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn user_namespaces_other_than_the_nodes_are_refused_by_name() {
        let mapping = vec![cri::IdMapping {
            host_id: 1000,
            container_id: 0,
            length: 100_000,
        }];
        let pod = pod_with_userns(cri::UserNamespace {
            mode: cri::NamespaceMode::Pod as i32,
            uids: mapping.clone(),
            gids: mapping,
        });
        let err = pod_config(&pod).unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert!(
            err.message().contains("userns_options"),
            "{}",
            err.message()
        );
        let node = pod_with_userns(cri::UserNamespace {
            mode: cri::NamespaceMode::Node as i32,
            ..Default::default()
        });
        assert!(pod_config(&node).is_ok());
        assert!(pod_config(&cri::PodSandboxConfig::default()).is_ok());
        let container = with_security(cri::LinuxContainerSecurityContext {
            namespace_options: Some(cri::NamespaceOption {
                userns_options: Some(cri::UserNamespace {
                    mode: cri::NamespaceMode::Container as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(
            container_config(&container).unwrap_err().code(),
            Code::FailedPrecondition
        );
    }
}
