//! The LSM-ish parts of the security context: which seccomp profile a
//! container runs under, and what is accepted of AppArmor and SELinux on a
//! host that has neither.
//!
//! Seccomp follows containerd: a privileged container, `Unconfined`, no
//! profile at all (the kubelet's default) and the deprecated `unconfined`
//! path run without a filter; `RuntimeDefault` (and `runtime/default`,
//! `docker/default`) gets [`super::seccomp_default`] for the container's
//! capabilities; `Localhost` gets the node's JSON file, which the daemon
//! reads ([`super::Resolved::localhost_seccomp`]) since this builder does
//! no I/O.

use cradle_proto::cri;
use oci_spec::runtime::{Capabilities, LinuxSeccomp};

use super::seccomp_default;
use crate::core::error::SpecError;

/// What the seccomp settings ask for, before any file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeccompChoice {
    /// No seccomp filter.
    Unconfined,
    /// The built-in default profile (containerd's, as the kubelet expects).
    RuntimeDefault,
    /// An absolute path on the node.
    Localhost(String),
}

/// The seccomp profile the security context asks for (the deprecated
/// `seccomp_profile_path` still comes from older kubelets and crictl).
#[allow(deprecated)]
pub fn seccomp_choice(
    security: Option<&cri::LinuxContainerSecurityContext>,
) -> Result<SeccompChoice, SpecError> {
    let Some(security) = security else {
        return Ok(SeccompChoice::Unconfined);
    };
    if security.privileged {
        return Ok(SeccompChoice::Unconfined);
    }
    if let Some(profile) = &security.seccomp {
        return match cri::security_profile::ProfileType::try_from(profile.profile_type) {
            Ok(cri::security_profile::ProfileType::RuntimeDefault) => {
                Ok(SeccompChoice::RuntimeDefault)
            }
            Ok(cri::security_profile::ProfileType::Unconfined) => Ok(SeccompChoice::Unconfined),
            Ok(cri::security_profile::ProfileType::Localhost) => localhost(&profile.localhost_ref),
            Err(_) => Err(SpecError::build(format!(
                "unknown seccomp profile type {}",
                profile.profile_type
            ))),
        };
    }
    match security.seccomp_profile_path.as_str() {
        "" | "unconfined" => Ok(SeccompChoice::Unconfined),
        "runtime/default" | "docker/default" => Ok(SeccompChoice::RuntimeDefault),
        path => match path.strip_prefix("localhost/") {
            Some(file) => localhost(file),
            None => Err(SpecError::build(format!(
                "seccomp_profile_path {path:?}: expected runtime/default, unconfined or localhost/<path>"
            ))),
        },
    }
}

fn localhost(path: &str) -> Result<SeccompChoice, SpecError> {
    if !path.starts_with('/') {
        return Err(SpecError::build(format!(
            "seccomp Localhost profile {path:?} must be an absolute path on the node"
        )));
    }
    Ok(SeccompChoice::Localhost(path.to_string()))
}

/// `linux.seccomp` for the choice; a Localhost profile must have been loaded.
pub fn seccomp(
    choice: &SeccompChoice,
    effective_caps: &Capabilities,
    localhost_profile: Option<&LinuxSeccomp>,
) -> Result<Option<LinuxSeccomp>, SpecError> {
    match choice {
        SeccompChoice::Unconfined => Ok(None),
        SeccompChoice::RuntimeDefault => seccomp_default::profile(effective_caps)
            .map(Some)
            .map_err(SpecError::Seccomp),
        SeccompChoice::Localhost(path) => localhost_profile.cloned().map(Some).ok_or_else(|| {
            SpecError::build(format!("seccomp Localhost profile {path} was not loaded"))
        }),
    }
}

/// AppArmor and SELinux: this host runs neither, so only "nothing" and
/// "unconfined" can be honoured (AppArmor's RuntimeDefault means no profile
/// where AppArmor is absent, as with containerd); anything else is refused
/// rather than silently dropped.
#[allow(deprecated)]
pub fn check_lsm(security: Option<&cri::LinuxContainerSecurityContext>) -> Result<(), SpecError> {
    let Some(security) = security else {
        return Ok(());
    };
    if let Some(profile) = &security.apparmor
        && profile.profile_type == cri::security_profile::ProfileType::Localhost as i32
    {
        return Err(SpecError::build(format!(
            "AppArmor profile {:?} cannot be applied: AppArmor is not enabled on this node",
            profile.localhost_ref
        )));
    }
    match security.apparmor_profile.as_str() {
        "" | "unconfined" | "runtime/default" => {}
        other => {
            return Err(SpecError::build(format!(
                "AppArmor profile {other:?} cannot be applied: AppArmor is not enabled on this node"
            )));
        }
    }
    if let Some(se) = &security.selinux_options
        && !(se.user.is_empty()
            && se.role.is_empty()
            && se.r#type.is_empty()
            && se.level.is_empty())
    {
        return Err(SpecError::build(format!(
            "SELinux options {se:?} cannot be applied: SELinux is not enabled on this node"
        )));
    }
    Ok(())
}
