//! The LSM-ish parts of the security context: which seccomp profile and
//! which AppArmor profile a container runs under, and what is accepted of
//! SELinux on a node without it.
//!
//! Seccomp follows containerd: a privileged container, `Unconfined`, no
//! profile at all (the kubelet's default) and the deprecated `unconfined`
//! path run without a filter; `RuntimeDefault` (and `runtime/default`,
//! `docker/default`) gets [`super::seccomp_default`] for the container's
//! capabilities; `Localhost` gets the node's JSON file, which the daemon
//! reads ([`super::Resolved::localhost_seccomp`]) since this builder does
//! no I/O.
//!
//! AppArmor follows containerd too ([`apparmor_profile`]): the node is
//! consulted through [`apparmor::AppArmorHost`] by the daemon before the
//! build, and the builder only checks the result ([`apparmor_in_spec`]).

use cradle_proto::cri;
use oci_spec::runtime::{Capabilities, LinuxSeccomp};

use super::seccomp_default;
use crate::core::error::SpecError;
use crate::platform::apparmor;

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

/// SELinux: this node runs none, so only "nothing" can be honoured; a label
/// asked for is refused rather than silently dropped. (AppArmor is chosen
/// by [`apparmor_profile`] before the build and checked by
/// [`apparmor_in_spec`].)
pub fn check_lsm(security: Option<&cri::LinuxContainerSecurityContext>) -> Result<(), SpecError> {
    let Some(security) = security else {
        return Ok(());
    };
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

/// The CRI field of the AppArmor profile.
const APPARMOR_FIELD: &str = "linux.security_context.apparmor";
/// The deprecated string field older kubelets and crictl still send.
const APPARMOR_PROFILE_FIELD: &str = "linux.security_context.apparmor_profile";

/// What the AppArmor settings ask for, before the node is consulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppArmorChoice {
    /// Nothing asked: the runtime's default where AppArmor is enabled.
    Unset,
    /// The runtime's default profile ([`apparmor::DEFAULT_PROFILE`]).
    RuntimeDefault,
    /// No profile.
    Unconfined,
    /// A profile loaded on the node, by name; `field` is the CRI field
    /// that named it (for errors).
    Localhost {
        /// The profile's name.
        name: String,
        /// `linux.security_context.apparmor` or its deprecated string.
        field: &'static str,
    },
}

/// Why a container's AppArmor profile cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum AppArmorRefusal {
    /// The request asks for what the node cannot give (InvalidArgument).
    #[error("{field}: {why}")]
    Invalid {
        /// The CRI field.
        field: &'static str,
        /// Why, naming the profile.
        why: String,
    },
    /// The node's AppArmor failed (loading the default profile, reading
    /// the loaded ones).
    #[error("AppArmor profile {profile}")]
    Node {
        /// The profile being checked or loaded.
        profile: String,
        /// What failed.
        #[source]
        source: Box<apparmor::AppArmorError>,
    },
}

/// The AppArmor profile the security context asks for: the
/// `SecurityProfile` field, else the deprecated string (`runtime/default`,
/// `docker/default`, `unconfined`, `localhost/<name>`).
#[allow(deprecated)]
pub fn apparmor_choice(
    security: Option<&cri::LinuxContainerSecurityContext>,
) -> Result<AppArmorChoice, AppArmorRefusal> {
    let Some(security) = security else {
        return Ok(AppArmorChoice::Unset);
    };
    let invalid = |field, why: String| Err(AppArmorRefusal::Invalid { field, why });
    if let Some(profile) = &security.apparmor {
        return match cri::security_profile::ProfileType::try_from(profile.profile_type) {
            Ok(cri::security_profile::ProfileType::RuntimeDefault) => {
                Ok(AppArmorChoice::RuntimeDefault)
            }
            Ok(cri::security_profile::ProfileType::Unconfined) => Ok(AppArmorChoice::Unconfined),
            Ok(cri::security_profile::ProfileType::Localhost) => {
                // containerd trims the prefix too, though it should not be there.
                let name = profile.localhost_ref.trim_start_matches("localhost/");
                if name.is_empty() {
                    return invalid(
                        APPARMOR_FIELD,
                        "a Localhost profile needs localhost_ref".into(),
                    );
                }
                Ok(AppArmorChoice::Localhost {
                    name: name.to_string(),
                    field: APPARMOR_FIELD,
                })
            }
            Err(_) => invalid(
                APPARMOR_FIELD,
                format!("unknown profile type {}", profile.profile_type),
            ),
        };
    }
    match security.apparmor_profile.as_str() {
        "" => Ok(AppArmorChoice::Unset),
        "runtime/default" | "docker/default" => Ok(AppArmorChoice::RuntimeDefault),
        "unconfined" => Ok(AppArmorChoice::Unconfined),
        other => match other.strip_prefix("localhost/") {
            Some(name) if !name.is_empty() => Ok(AppArmorChoice::Localhost {
                name: name.to_string(),
                field: APPARMOR_PROFILE_FIELD,
            }),
            _ => invalid(
                APPARMOR_PROFILE_FIELD,
                format!("{other:?}: expected runtime/default, unconfined or localhost/<profile>"),
            ),
        },
    }
}

/// The profile the container runs under (`process.apparmorProfile`),
/// containerd's rules: where AppArmor is enabled, nothing asked and
/// RuntimeDefault are [`apparmor::DEFAULT_PROFILE`] (loaded now if this
/// daemon has not yet), except for a privileged container, which runs
/// unconfined unless it names a profile; Localhost is the named profile,
/// which must be loaded. Where AppArmor is absent, only Localhost is
/// refused (a container that asked for confinement must not run without
/// it); the rest run without a profile. Unconfined is none anywhere.
pub fn apparmor_profile(
    choice: &AppArmorChoice,
    privileged: bool,
    node: &dyn apparmor::AppArmorHost,
) -> Result<Option<String>, AppArmorRefusal> {
    match choice {
        AppArmorChoice::Unconfined => Ok(None),
        AppArmorChoice::Unset | AppArmorChoice::RuntimeDefault => {
            if !node.enabled() || privileged {
                return Ok(None);
            }
            let profile = apparmor::DEFAULT_PROFILE;
            node.ensure_default_loaded()
                .map_err(|source| AppArmorRefusal::Node {
                    profile: profile.to_string(),
                    source: Box::new(source),
                })?;
            Ok(Some(profile.to_string()))
        }
        AppArmorChoice::Localhost { name, field } => {
            if !node.enabled() {
                return Err(AppArmorRefusal::Invalid {
                    field,
                    why: format!(
                        "profile {name:?} cannot be applied: AppArmor is not enabled on this node"
                    ),
                });
            }
            let loaded = node
                .is_loaded(name)
                .map_err(|source| AppArmorRefusal::Node {
                    profile: name.clone(),
                    source: Box::new(source),
                })?;
            if !loaded {
                return Err(AppArmorRefusal::Invalid {
                    field,
                    why: format!(
                        "profile {name:?} is not loaded on this node \
                         (load it with apparmor_parser first)"
                    ),
                });
            }
            Ok(Some(name.clone()))
        }
    }
}

/// The builder's side: `resolved`, the profile [`apparmor_profile`] chose
/// before the build, checked against the request, so a spec never runs a
/// container under less than it asked for (a Localhost profile that was
/// not resolved, say).
pub fn apparmor_in_spec(
    security: Option<&cri::LinuxContainerSecurityContext>,
    resolved: Option<&str>,
) -> Result<Option<String>, SpecError> {
    let choice = apparmor_choice(security).map_err(|e| SpecError::build(e.to_string()))?;
    match (&choice, resolved) {
        (AppArmorChoice::Localhost { name, field }, resolved) if resolved != Some(name) => {
            Err(SpecError::build(format!(
                "{field}: AppArmor profile {name:?} cannot be applied: \
                 it was not found loaded on this node"
            )))
        }
        (AppArmorChoice::Unconfined, Some(profile)) => Err(SpecError::build(format!(
            "{APPARMOR_FIELD}: Unconfined, but profile {profile:?} was resolved"
        ))),
        _ => Ok(resolved.map(str::to_string)),
    }
}

#[cfg(test)]
#[path = "tests_apparmor.rs"]
mod tests_apparmor;
