//! Unit tests of identity, privileged, seccomp, LSM and device mapping.

use cradle_proto::cri;
use oci_spec::runtime::{Capability, LinuxSeccompAction, Spec};

use super::tests::Fixture;
use super::*;
use crate::containers::users::UserDb;

const PASSWD: &str = "root:x:0:0::/root:/bin/sh\nwww:x:33:33::/:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n";
const GROUP: &str = "root:x:0:\nwww:x:33:alice\nalice:x:1000:\nwheel:x:10:alice\nstaff:x:50:\n";

fn with_users() -> Fixture {
    let mut f = Fixture::new();
    f.resolved.users = UserDb::parse(PASSWD, GROUP);
    f
}

fn ids(spec: &Spec) -> (u32, u32, Vec<u32>) {
    let u = spec.process().as_ref().unwrap().user();
    (
        u.uid(),
        u.gid(),
        u.additional_gids().clone().unwrap_or_default(),
    )
}

#[test]
fn image_user_names_resolve_from_the_image_files() {
    let mut f = with_users();
    f.image.user = Some("www".into());
    assert_eq!(ids(&f.build().unwrap()), (33, 33, vec![33]));
    f.image.user = Some("alice:staff".into());
    assert_eq!(ids(&f.build().unwrap()).0, 1000);
    assert_eq!(ids(&f.build().unwrap()).1, 50);
    f.image.user = Some("1000".into());
    assert_eq!(ids(&f.build().unwrap()), (1000, 1000, vec![1000, 33, 10]));
    f.image.user = Some("4242".into());
    assert_eq!(
        ids(&f.build().unwrap()),
        (4242, 0, vec![0]),
        "unknown uid: gid 0"
    );
    f.image.user = Some("ghost".into());
    assert!(matches!(f.build(), Err(SpecError::Build(m)) if m.contains("ghost")));
}

#[test]
fn run_as_username_and_run_as_user_resolve_like_containerd() {
    let mut f = with_users();
    f.security().run_as_username = "alice".into();
    assert_eq!(ids(&f.build().unwrap()), (1000, 1000, vec![1000, 33, 10]));
    f.security().run_as_username = "ghost".into();
    assert!(f.build().is_err());
    let mut f = with_users();
    f.image.user = Some("www".into());
    f.security().run_as_user = Some(cri::Int64Value { value: 1000 });
    f.security().run_as_group = Some(cri::Int64Value { value: 50 });
    f.security().supplemental_groups = vec![7];
    assert_eq!(ids(&f.build().unwrap()), (1000, 50, vec![50, 33, 10, 7]));
}

#[test]
fn strict_policy_ignores_the_image_groups() {
    let mut f = with_users();
    f.security().run_as_user = Some(cri::Int64Value { value: 1000 });
    f.security().supplemental_groups = vec![7];
    f.security().supplemental_groups_policy = cri::SupplementalGroupsPolicy::Strict as i32;
    assert_eq!(ids(&f.build().unwrap()), (1000, 1000, vec![1000, 7]));
}

#[test]
fn privileged_lifts_caps_masks_devices_and_seccomp() {
    let mut f = Fixture::new();
    f.security().privileged = true;
    f.security().seccomp = Some(cri::SecurityProfile::default()); // RuntimeDefault
    assert!(f.build().is_err(), "needs a privileged sandbox");
    f.sandbox_security().privileged = true;
    let spec = f.build().unwrap();
    let caps = spec
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .clone()
        .unwrap();
    let effective = caps.effective().clone().unwrap();
    assert!(effective.contains(&Capability::SysAdmin) && effective.len() >= 40);

    // With the daemon's own bounding set known, exactly that set.
    let current = super::process::capabilities_from_mask(0x1ff_feff_ffff);
    assert!(!current.contains(&Capability::SysResource) && current.len() == 40);
    f.resolved.current_capabilities = Some(current.clone());
    let spec = f.build().unwrap();
    let caps = spec
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .clone()
        .unwrap();
    assert_eq!(caps.bounding().clone().unwrap(), current);
    assert_eq!(caps.effective().clone().unwrap(), current);
    let linux = spec.linux().as_ref().unwrap();
    assert_eq!(linux.masked_paths().as_deref(), Some(&[][..]));
    assert_eq!(linux.readonly_paths().as_deref(), Some(&[][..]));
    assert!(linux.seccomp().is_none());
    let rules = linux
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .clone()
        .unwrap();
    assert_eq!(rules.len(), 1);
    assert!(rules[0].allow() && rules[0].major().is_none());
    let sys = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == std::path::Path::new("/sys"))
        .unwrap();
    assert!(!sys.options().as_ref().unwrap().iter().any(|o| o == "ro"));
}

fn seccomp_of(f: &Fixture) -> Option<oci_spec::runtime::LinuxSeccomp> {
    f.build()
        .unwrap()
        .linux()
        .as_ref()
        .unwrap()
        .seccomp()
        .clone()
}

fn allowed(profile: &oci_spec::runtime::LinuxSeccomp, name: &str) -> bool {
    profile.syscalls().as_ref().unwrap().iter().any(|s| {
        s.action() == LinuxSeccompAction::ScmpActAllow
            && s.args().as_ref().is_none_or(|a| a.is_empty())
            && s.names().iter().any(|n| n == name)
    })
}

#[test]
fn runtime_default_is_containerds_profile_for_the_caps() {
    let mut f = Fixture::new();
    assert!(seccomp_of(&f).is_none(), "no profile asked: unconfined");
    f.security().seccomp = Some(cri::SecurityProfile::default());
    let p = seccomp_of(&f).unwrap();
    assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(p.default_errno_ret(), Some(1));
    assert!(allowed(&p, "read") && allowed(&p, "chroot"));
    assert!(!allowed(&p, "unshare") && !allowed(&p, "keyctl") && !allowed(&p, "clone"));
    let syscalls = p.syscalls().clone().unwrap();
    let clone3 = syscalls.iter().find(|s| *s.names() == ["clone3"]).unwrap();
    assert_eq!(clone3.errno_ret(), Some(38));
    let clone = syscalls.iter().find(|s| *s.names() == ["clone"]).unwrap();
    assert_eq!(clone.args().as_ref().unwrap()[0].value(), 0x7E02_0000);

    f.security().capabilities = Some(cri::Capability {
        add_capabilities: vec!["SYS_ADMIN".into()],
        ..Default::default()
    });
    let p = seccomp_of(&f).unwrap();
    assert!(allowed(&p, "unshare") && allowed(&p, "clone") && allowed(&p, "mount"));
}

#[test]
fn unconfined_and_localhost_profiles() {
    let mut f = Fixture::new();
    f.security().seccomp = Some(cri::SecurityProfile {
        profile_type: cri::security_profile::ProfileType::Unconfined as i32,
        localhost_ref: String::new(),
    });
    assert!(seccomp_of(&f).is_none());
    f.security().seccomp = Some(cri::SecurityProfile {
        profile_type: cri::security_profile::ProfileType::Localhost as i32,
        localhost_ref: "/etc/profile.json".into(),
    });
    assert!(f.build().is_err(), "a Localhost profile must be loaded");
    let loaded: oci_spec::runtime::LinuxSeccomp =
        serde_json::from_str(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#).unwrap();
    f.resolved.localhost_seccomp = Some(loaded.clone());
    assert_eq!(seccomp_of(&f), Some(loaded));
    f.security().seccomp = Some(cri::SecurityProfile {
        profile_type: cri::security_profile::ProfileType::Localhost as i32,
        localhost_ref: "relative.json".into(),
    });
    assert!(f.build().is_err());
}

#[test]
#[allow(deprecated)]
fn an_unresolved_apparmor_profile_and_selinux_options_are_refused() {
    let mut f = Fixture::new();
    f.security().apparmor = Some(cri::SecurityProfile {
        profile_type: cri::security_profile::ProfileType::Unconfined as i32,
        localhost_ref: String::new(),
    });
    f.security().apparmor_profile = "unconfined".into();
    f.security().selinux_options = Some(cri::SeLinuxOption::default());
    f.build().unwrap();
    // The deprecated string counts only without the field (containerd).
    f.security().apparmor = None;
    f.security().apparmor_profile = "localhost/k8s-nginx".into();
    assert!(matches!(f.build(), Err(SpecError::Build(m)) if m.contains("AppArmor")));
    f.security().apparmor_profile = String::new();
    f.security().selinux_options = Some(cri::SeLinuxOption {
        level: "s0:c1,c2".into(),
        ..Default::default()
    });
    assert!(matches!(f.build(), Err(SpecError::Build(m)) if m.contains("SELinux")));
}

#[test]
fn devices_become_nodes_and_cgroup_rules_with_their_permissions() {
    let mut f = Fixture::new();
    f.resolved.devices = crate::containers::devices::resolve(
        &cri::ContainerConfig {
            devices: vec![cri::Device {
                container_path: "/dev/mynull".into(),
                host_path: "/dev/null".into(),
                permissions: "r".into(),
            }],
            ..Default::default()
        },
        false,
    )
    .unwrap();
    let spec = f.build().unwrap();
    let linux = spec.linux().as_ref().unwrap();
    let nodes = linux.devices().clone().unwrap();
    assert_eq!(nodes[0].path(), std::path::Path::new("/dev/mynull"));
    let rules = linux
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .clone()
        .unwrap();
    let last = rules.last().unwrap();
    assert_eq!(
        (
            last.allow(),
            last.major(),
            last.minor(),
            last.access().as_deref()
        ),
        (true, Some(1), Some(3), Some("r"))
    );
}

#[test]
fn pid_pod_and_target_join_the_resolved_namespace() {
    let pid_ns = |f: &Fixture| {
        f.build()
            .unwrap()
            .linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .clone()
            .unwrap()
            .into_iter()
            .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid)
            .map(|n| n.path().clone())
    };
    let mut f = Fixture::new();
    let options = f
        .security()
        .namespace_options
        .get_or_insert_with(Default::default);
    options.pid = cri::NamespaceMode::Target as i32;
    options.target_id = "t".into();
    assert!(f.build().is_err(), "TARGET needs the target's namespace");
    f.resolved.pid_ns = Some("/proc/42/ns/pid".into());
    assert_eq!(pid_ns(&f), Some(Some("/proc/42/ns/pid".into())));
    f.security().namespace_options.as_mut().unwrap().pid = cri::NamespaceMode::Pod as i32;
    assert_eq!(pid_ns(&f), Some(Some("/proc/42/ns/pid".into())));
    f.resolved.pid_ns = None;
    assert_eq!(
        pid_ns(&f),
        Some(None),
        "POD without a pod namespace: private"
    );
}

#[test]
fn capability_masks_follow_the_kernels_numbering() {
    let from = super::process::capabilities_from_mask;
    assert_eq!(from(1 << 21), [Capability::SysAdmin].into_iter().collect());
    assert_eq!(
        from(1 | 1 << 40 | 1 << 63),
        [Capability::Chown, Capability::CheckpointRestore]
            .into_iter()
            .collect()
    );
    assert!(from(0).is_empty());
}
