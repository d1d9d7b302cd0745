//! Request checks at the service boundary, before anything is created:
//! every field against the kubelet's own limits (`fields`, by the `rules`
//! of names, paths and strings), combinations of fields that containerd
//! refuses before doing any work (a group without a user), and the user
//! namespace options (`userns`): what the kubelet sends, else refused by
//! name instead of silently ignored.

mod fields;
mod rules;
mod userns;

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
        userns::check(security.namespace_options.as_ref(), false)?;
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
    userns::check(options, true)
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
}
