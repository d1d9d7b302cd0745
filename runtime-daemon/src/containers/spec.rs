//! The OCI spec builder: CRI container config + image config → `config.json`.
//!
//! A pure function (no I/O, no host probing) so that every rule is unit-tested:
//! the bundle the shim hands to the OCI runtime is exactly what this module
//! returns. It follows containerd's CRI plugin for non-privileged containers:
//! the process (args, env, cwd, user, capabilities) in [`process`], the mounts
//! in `mounts`, namespaces, cgroups, resources and masked paths in `linux`.
//! Seccomp, AppArmor and SELinux choices are in [`security`] (the
//! RuntimeDefault profile in [`seccomp_default`]); the pod's IPC sysctls come
//! from [`crate::platform::sysctls`]. What the daemon had to
//! read first (the image's users, a Localhost seccomp file, device nodes,
//! the CDI devices' edits, image volumes already mounted as host paths)
//! arrives in [`Resolved`] and the config; the CDI edits are applied last,
//! as containerd does. What it cannot honour is refused with
//! [`SpecError::Build`] rather than silently dropped.

mod input;
mod linux;
mod mounts;
pub mod process;
pub mod seccomp_default;
pub mod security;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_mounts_sysctls;
#[cfg(test)]
mod tests_security;
mod userns;

pub use crate::core::error::SpecError;
pub use input::{Resolved, SandboxNamespaces, SpecInput, UserNsJoin};

use std::collections::HashMap;

use cradle_proto::cri;
use oci_spec::runtime::{RootBuilder, Spec};

/// The OCI runtime spec version we write.
const OCI_VERSION: &str = "1.1.0";

// CRI annotation keys, as containerd writes them (tools such as cAdvisor and
// NRI plugins read them).
/// Annotation saying whether the spec is a pod's sandbox or a container.
pub const ANNOTATION_CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";
/// Annotation with the container's CRI metadata name.
pub const ANNOTATION_CONTAINER_NAME: &str = "io.kubernetes.cri.container-name";
/// Annotation with the pod's name.
pub const ANNOTATION_SANDBOX_NAME: &str = "io.kubernetes.cri.sandbox-name";
/// Annotation with the pod's Kubernetes namespace.
pub const ANNOTATION_SANDBOX_NAMESPACE: &str = "io.kubernetes.cri.sandbox-namespace";
/// Annotation with the pod's Kubernetes uid.
pub const ANNOTATION_SANDBOX_UID: &str = "io.kubernetes.cri.sandbox-uid";
/// Annotation with the image as the kubelet named it.
pub const ANNOTATION_IMAGE_NAME: &str = "io.kubernetes.cri.image-name";

/// The OCI resources for `<runtime> update`: the CRI limits as create writes
/// them, without the device rules (an update never changes devices, and on
/// cgroup v2 a device list would replace the whole filter).
pub fn update_resources(
    r: &cradle_proto::cri::LinuxContainerResources,
) -> Result<oci_spec::runtime::LinuxResources, SpecError> {
    let mut resources = linux::resources(Some(r))?;
    resources.set_devices(None);
    Ok(resources)
}

/// Builds the OCI runtime spec of one container.
pub fn build_spec(input: &SpecInput<'_>) -> Result<Spec, SpecError> {
    if !input.rootfs.is_absolute() {
        return Err(SpecError::build(format!(
            "container {}: rootfs path {} is not absolute",
            input.container_id,
            input.rootfs.display()
        )));
    }
    let security = input
        .config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref());
    let privileged = security.is_some_and(|s| s.privileged);
    if privileged && !sandbox_privileged(input.sandbox) {
        return Err(SpecError::build(
            "a privileged container needs a privileged pod sandbox",
        ));
    }
    security::check_lsm(security)?;

    let process = process::build_process(input)?;
    let (mounts, rootfs_propagation) = mounts::build_mounts(
        &input.config.mounts,
        privileged,
        input.resolved.recursive_read_only,
    )?;
    let mut linux = linux::build_linux(input, rootfs_propagation)?;
    let effective = process
        .capabilities()
        .as_ref()
        .and_then(|c| c.effective().clone())
        .unwrap_or_default();
    linux.set_seccomp(security::seccomp(
        &security::seccomp_choice(security)?,
        &effective,
        input.resolved.localhost_seccomp.as_ref(),
    )?);

    let root = RootBuilder::default()
        .path(input.rootfs.to_path_buf())
        .readonly(security.is_some_and(|s| s.readonly_rootfs))
        .build()
        .map_err(|e| SpecError::oci("root", e))?;

    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_string());
    spec.set_root(Some(root));
    spec.set_mounts(Some(mounts));
    spec.set_process(Some(process));
    // A hostname can only be set in a private UTS namespace (runc refuses it
    // otherwise); with the host's UTS namespace the container sees the node's.
    let hostname = &input.sandbox.hostname;
    spec.set_hostname(
        (input.namespaces.uts.is_some() && !hostname.is_empty()).then(|| hostname.clone()),
    );
    spec.set_domainname(None);
    spec.set_hooks(None);
    spec.set_annotations(Some(annotations(input)));
    spec.set_linux(Some(linux));
    crate::containers::cdi::apply(&mut spec, &input.resolved.cdi)
        .map_err(|e| SpecError::Cdi(Box::new(e)))?;
    Ok(spec)
}

/// Whether the pod sandbox was created privileged.
fn sandbox_privileged(sandbox: &cri::PodSandboxConfig) -> bool {
    sandbox
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .is_some_and(|s| s.privileged)
}

/// The container's own annotations plus the CRI ones containerd adds.
fn annotations(input: &SpecInput<'_>) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = input
        .config
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // TODO: `io.kubernetes.cri.sandbox-id` needs the sandbox id, which
    // SpecInput does not carry yet (contract change for the daemon).
    out.insert(ANNOTATION_CONTAINER_TYPE.into(), "container".into());
    if let Some(meta) = &input.config.metadata {
        out.insert(ANNOTATION_CONTAINER_NAME.into(), meta.name.clone());
    }
    if let Some(meta) = &input.sandbox.metadata {
        out.insert(ANNOTATION_SANDBOX_NAME.into(), meta.name.clone());
        out.insert(ANNOTATION_SANDBOX_NAMESPACE.into(), meta.namespace.clone());
        out.insert(ANNOTATION_SANDBOX_UID.into(), meta.uid.clone());
    }
    if let Some(image) = &input.config.image {
        out.insert(ANNOTATION_IMAGE_NAME.into(), image.image.clone());
    }
    out
}
