//! Unit tests of recursive read-only mounts and the pod's IPC sysctls.

use cradle_proto::cri;

use super::tests::Fixture;

fn rro_mount(readonly: bool, propagation: cri::MountPropagation) -> cri::Mount {
    cri::Mount {
        container_path: "/data".into(),
        host_path: "/tmp/data".into(),
        readonly,
        recursive_read_only: true,
        propagation: propagation as i32,
        ..Default::default()
    }
}

fn data_options(f: &Fixture) -> Vec<String> {
    let spec = f.build().unwrap();
    let mounts = spec.mounts().clone().unwrap();
    let data = mounts
        .iter()
        .find(|m| m.destination().as_os_str() == "/data")
        .unwrap();
    data.options().clone().unwrap()
}

#[test]
fn recursive_read_only_mount_gets_rro_when_the_handler_supports_it() {
    let mut f = Fixture::new();
    f.resolved.recursive_read_only = true;
    f.config.mounts = vec![rro_mount(true, cri::MountPropagation::PropagationPrivate)];
    assert_eq!(data_options(&f), ["rbind", "rprivate", "ro", "rro"]);
}

#[test]
fn recursive_read_only_is_refused_without_support_readonly_or_private() {
    let mut f = Fixture::new();
    f.config.mounts = vec![rro_mount(true, cri::MountPropagation::PropagationPrivate)];
    let err = f.build().unwrap_err().to_string();
    assert!(
        err.contains("not supported by this runtime handler"),
        "{err}"
    );

    f.resolved.recursive_read_only = true;
    f.config.mounts = vec![rro_mount(false, cri::MountPropagation::PropagationPrivate)];
    let err = f.build().unwrap_err().to_string();
    assert!(err.contains("needs readonly"), "{err}");

    f.config.mounts = vec![rro_mount(
        true,
        cri::MountPropagation::PropagationHostToContainer,
    )];
    let err = f.build().unwrap_err().to_string();
    assert!(err.contains("needs private propagation"), "{err}");
}

#[test]
fn pod_ipc_sysctls_are_in_the_container_spec() {
    let mut f = Fixture::new();
    f.sandbox.linux = Some(cri::LinuxPodSandboxConfig {
        sysctls: [("kernel.shmmax", "4096000"), ("net.ipv4.ip_forward", "1")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    });
    let spec = f.build().unwrap();
    let sysctl = spec.linux().as_ref().unwrap().sysctl().clone().unwrap();
    assert_eq!(sysctl.len(), 1, "{sysctl:?}");
    assert_eq!(sysctl["kernel.shmmax"], "4096000");

    // With the node's IPC namespace, applying it would change the node.
    f.namespaces.ipc = None;
    let err = f.build().unwrap_err().to_string();
    assert!(err.contains("kernel.shmmax"), "{err}");
}

#[test]
fn no_pod_sysctls_leave_the_spec_without_any() {
    let spec = Fixture::new().build().unwrap();
    assert!(spec.linux().as_ref().unwrap().sysctl().is_none());
}
