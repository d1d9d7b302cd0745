//! Unit tests of the merge rules and the linux mapping.

use std::path::{Path, PathBuf};

use cradle_proto::cri;
use cradle_snapshotter::ImageConfig;
use oci_spec::runtime::{Capability, LinuxNamespaceType, Spec};

use super::*;

pub(super) struct Fixture {
    pub(super) config: cri::ContainerConfig,
    pub(super) sandbox: cri::PodSandboxConfig,
    pub(super) image: ImageConfig,
    pub(super) namespaces: SandboxNamespaces,
    pub(super) resolved: Resolved,
}

impl Fixture {
    pub(super) fn new() -> Self {
        Fixture {
            resolved: Resolved::default(),
            config: cri::ContainerConfig {
                metadata: Some(cri::ContainerMetadata {
                    name: "c1".into(),
                    attempt: 0,
                }),
                image: Some(cri::ImageSpec {
                    image: "busybox".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            sandbox: cri::PodSandboxConfig {
                metadata: Some(cri::PodSandboxMetadata {
                    name: "pod".into(),
                    uid: "uid-1".into(),
                    namespace: "default".into(),
                    attempt: 0,
                }),
                hostname: "podhost".into(),
                ..Default::default()
            },
            image: ImageConfig {
                env: vec!["PATH=/bin".into(), "A=image".into()],
                cmd: vec!["sh".into()],
                ..Default::default()
            },
            namespaces: SandboxNamespaces {
                net: Some("/run/cradle/ns/s1/net".into()),
                ipc: Some("/run/cradle/ns/s1/ipc".into()),
                uts: Some("/run/cradle/ns/s1/uts".into()),
            },
        }
    }

    pub(super) fn build(&self) -> Result<Spec, SpecError> {
        self.build_in("/cradle/abc")
    }

    /// [`Fixture::build`] with the container's cgroup at `cgroups_path`.
    pub(super) fn build_in(&self, cgroups_path: &str) -> Result<Spec, SpecError> {
        build_spec(&SpecInput {
            resolved: &self.resolved,
            container_id: "abc",
            config: &self.config,
            sandbox: &self.sandbox,
            image: &self.image,
            rootfs: Path::new("/var/lib/cradle/containers/abc/bundle/rootfs"),
            namespaces: &self.namespaces,
            cgroups_path,
        })
    }

    pub(super) fn security(&mut self) -> &mut cri::LinuxContainerSecurityContext {
        self.config
            .linux
            .get_or_insert_with(Default::default)
            .security_context
            .get_or_insert_with(Default::default)
    }

    /// The pod's Linux security context, made empty where there is none.
    pub(super) fn sandbox_security(&mut self) -> &mut cri::LinuxSandboxSecurityContext {
        self.sandbox
            .linux
            .get_or_insert_with(Default::default)
            .security_context
            .get_or_insert_with(Default::default)
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn args_of(f: &Fixture) -> Vec<String> {
    f.build()
        .unwrap()
        .process()
        .as_ref()
        .unwrap()
        .args()
        .clone()
        .unwrap()
}

#[test]
fn image_entrypoint_and_cmd_are_used_without_command_or_args() {
    let mut f = Fixture::new();
    f.image.entrypoint = strings(&["/entry"]);
    f.image.cmd = strings(&["-x"]);
    assert_eq!(args_of(&f), strings(&["/entry", "-x"]));
}

#[test]
fn command_replaces_entrypoint_and_drops_image_cmd() {
    let mut f = Fixture::new();
    f.image.entrypoint = strings(&["/entry"]);
    f.image.cmd = strings(&["-x"]);
    f.config.command = strings(&["echo"]);
    assert_eq!(args_of(&f), strings(&["echo"]));
    f.config.args = strings(&["hi"]);
    assert_eq!(args_of(&f), strings(&["echo", "hi"]));
}

#[test]
fn args_replace_image_cmd_but_keep_entrypoint() {
    let mut f = Fixture::new();
    f.image.entrypoint = strings(&["/entry"]);
    f.image.cmd = strings(&["-x"]);
    f.config.args = strings(&["-y"]);
    assert_eq!(args_of(&f), strings(&["/entry", "-y"]));
}

#[test]
fn no_command_anywhere_is_an_error() {
    let mut f = Fixture::new();
    f.image.cmd.clear();
    assert!(matches!(f.build(), Err(SpecError::NoCommand)));
}

#[test]
fn config_env_overrides_image_env_in_place() {
    let mut f = Fixture::new();
    f.config.envs = vec![
        cri::KeyValue {
            key: "A".into(),
            value: "config".into(),
        },
        cri::KeyValue {
            key: "B".into(),
            value: "x=y".into(),
        },
    ];
    let spec = f.build().unwrap();
    let env = spec.process().as_ref().unwrap().env().clone().unwrap();
    assert_eq!(
        env,
        strings(&["HOSTNAME=podhost", "PATH=/bin", "A=config", "B=x=y"])
    );
}

#[test]
fn default_path_is_added_when_absent() {
    let mut f = Fixture::new();
    f.image.env.clear();
    let spec = f.build().unwrap();
    let env = spec.process().as_ref().unwrap().env().clone().unwrap();
    assert!(env.contains(&format!("PATH={}", process::DEFAULT_PATH)));
}

#[test]
fn cwd_prefers_config_then_image_then_root() {
    let mut f = Fixture::new();
    let cwd = |f: &Fixture| f.build().unwrap().process().as_ref().unwrap().cwd().clone();
    assert_eq!(cwd(&f), PathBuf::from("/"));
    f.image.working_dir = Some("/srv".into());
    assert_eq!(cwd(&f), PathBuf::from("/srv"));
    f.config.working_dir = "/work".into();
    assert_eq!(cwd(&f), PathBuf::from("/work"));
}

#[test]
fn numeric_image_user_and_security_context_override() {
    let mut f = Fixture::new();
    let user = |f: &Fixture| {
        let u = f
            .build()
            .unwrap()
            .process()
            .as_ref()
            .unwrap()
            .user()
            .clone();
        (u.uid(), u.gid())
    };
    assert_eq!(user(&f), (0, 0));
    f.image.user = Some("1000:2000".into());
    assert_eq!(user(&f), (1000, 2000));
    f.security().run_as_user = Some(cri::Int64Value { value: 65534 });
    f.security().run_as_group = Some(cri::Int64Value { value: 65533 });
    f.security().supplemental_groups = vec![10, 11];
    let spec = f.build().unwrap();
    let u = spec.process().as_ref().unwrap().user();
    assert_eq!((u.uid(), u.gid()), (65534, 65533));
    assert_eq!(u.additional_gids().clone().unwrap(), vec![65533, 10, 11]);
}

#[test]
fn default_capabilities_are_containerds_fourteen() {
    let f = Fixture::new();
    let spec = f.build().unwrap();
    let caps = spec
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .clone()
        .unwrap();
    let bounding = caps.bounding().clone().unwrap();
    assert_eq!(bounding.len(), 14);
    assert!(bounding.contains(&Capability::NetRaw));
    assert!(!bounding.contains(&Capability::SysAdmin));
    assert_eq!(caps.effective().clone().unwrap(), bounding);
    assert!(caps.inheritable().clone().unwrap().is_empty());
}

#[test]
fn capabilities_add_and_drop_including_all() {
    let caps = |add: &[&str], drop: &[&str]| {
        let c = cri::Capability {
            add_capabilities: strings(add),
            drop_capabilities: strings(drop),
            ..Default::default()
        };
        process::effective_capabilities(Some(&c), None).unwrap().0
    };
    let s = caps(&["NET_ADMIN", "CAP_SYS_TIME"], &["CHOWN"]);
    assert!(s.contains(&Capability::NetAdmin) && s.contains(&Capability::SysTime));
    assert!(!s.contains(&Capability::Chown));
    assert_eq!(caps(&[], &["ALL"]).len(), 0);
    assert_eq!(
        caps(&["KILL"], &["ALL"]).into_iter().collect::<Vec<_>>(),
        vec![Capability::Kill]
    );
    let all = caps(&["ALL"], &["SYS_ADMIN"]);
    assert!(all.contains(&Capability::SysModule) && !all.contains(&Capability::SysAdmin));
    let bad = cri::Capability {
        add_capabilities: strings(&["NOPE"]),
        ..Default::default()
    };
    assert!(process::effective_capabilities(Some(&bad), None).is_err());
}

/// critest's "adding ALL capabilities" on a node that withholds one from
/// the runtime: ALL is what the runtime holds, never more.
#[test]
fn add_all_is_what_the_runtime_holds() {
    let current = process::capabilities_from_mask(0x1ff_feff_ffff);
    assert!(!current.contains(&Capability::SysResource));
    let c = cri::Capability {
        add_capabilities: strings(&["ALL"]),
        ..Default::default()
    };
    let (set, _) = process::effective_capabilities(Some(&c), Some(&current)).unwrap();
    assert_eq!(set, current);
}

#[test]
fn no_new_privs_terminal_and_readonly_root_follow_config() {
    let mut f = Fixture::new();
    f.config.tty = true;
    f.security().no_new_privs = true;
    f.security().readonly_rootfs = true;
    let spec = f.build().unwrap();
    let p = spec.process().as_ref().unwrap();
    assert_eq!(p.terminal(), Some(true));
    assert_eq!(p.no_new_privileges(), Some(true));
    assert!(p.rlimits().is_none());
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
}

fn namespace_kinds(spec: &Spec) -> Vec<(LinuxNamespaceType, Option<PathBuf>)> {
    let linux = spec.linux().as_ref().unwrap();
    linux
        .namespaces()
        .clone()
        .unwrap()
        .iter()
        .map(|n| (n.typ(), n.path().clone()))
        .collect()
}

#[test]
fn namespaces_join_sandbox_pins_and_host_ones_are_left_out() {
    let mut f = Fixture::new();
    let ns = namespace_kinds(&f.build().unwrap());
    assert_eq!(
        ns,
        vec![
            (LinuxNamespaceType::Pid, None),
            (LinuxNamespaceType::Mount, None),
            (
                LinuxNamespaceType::Network,
                Some("/run/cradle/ns/s1/net".into())
            ),
            (
                LinuxNamespaceType::Ipc,
                Some("/run/cradle/ns/s1/ipc".into())
            ),
            (
                LinuxNamespaceType::Uts,
                Some("/run/cradle/ns/s1/uts".into())
            ),
        ]
    );
    f.namespaces.net = None;
    f.namespaces.uts = None;
    f.security().namespace_options = Some(cri::NamespaceOption {
        pid: cri::NamespaceMode::Node as i32,
        ..Default::default()
    });
    let spec = f.build().unwrap();
    let ns = namespace_kinds(&spec);
    assert_eq!(
        ns,
        vec![
            (LinuxNamespaceType::Mount, None),
            (
                LinuxNamespaceType::Ipc,
                Some("/run/cradle/ns/s1/ipc".into())
            ),
        ]
    );
    assert_eq!(
        spec.hostname(),
        &None,
        "no hostname without a private uts namespace"
    );
}

/// On a cgroup v2 node a container gets its own cgroup namespace (its
/// `/sys/fs/cgroup` is its cgroup), as containerd gives; a privileged one
/// and every container on v1 keep the node's.
#[test]
fn a_cgroup_namespace_of_its_own_on_v2_unless_privileged() {
    let has_cgroup_ns = |f: &Fixture| {
        namespace_kinds(&f.build().unwrap()).contains(&(LinuxNamespaceType::Cgroup, None))
    };
    let mut f = Fixture::new();
    assert!(!has_cgroup_ns(&f), "v1: the node's cgroup namespace");
    f.resolved.cgroup_v2 = true;
    assert!(has_cgroup_ns(&f), "v2: a private cgroup namespace");
    f.sandbox_security().privileged = true;
    f.security().privileged = true;
    assert!(!has_cgroup_ns(&f), "v2, privileged: the node's view");
}

/// The kubelet's -997 for a Guaranteed pod, on a node where the runtime may
/// not lower oom_score_adj: clamped to the floor, never below; untouched
/// where there is no floor or the value is above it.
#[test]
fn oom_score_adj_is_clamped_to_the_floor_only_where_there_is_one() {
    let adj_with = |requested: i64, floor: Option<i32>| {
        let mut f = Fixture::new();
        f.config
            .linux
            .get_or_insert_with(Default::default)
            .resources = Some(cri::LinuxContainerResources {
            oom_score_adj: requested,
            ..Default::default()
        });
        f.resolved.oom_score_adj_floor = floor;
        f.build()
            .unwrap()
            .process()
            .as_ref()
            .unwrap()
            .oom_score_adj()
    };
    assert_eq!(adj_with(-997, Some(0)), Some(0));
    assert_eq!(adj_with(-997, None), Some(-997));
    assert_eq!(adj_with(1000, Some(0)), Some(1000));
}

#[test]
fn cgroups_path_and_resources_are_mapped() {
    let mut f = Fixture::new();
    f.config
        .linux
        .get_or_insert_with(Default::default)
        .resources = Some(cri::LinuxContainerResources {
        cpu_shares: 512,
        cpu_quota: 50_000,
        cpu_period: 100_000,
        cpuset_cpus: "0-1".into(),
        memory_limit_in_bytes: 64 << 20,
        oom_score_adj: 500,
        ..Default::default()
    });
    let spec = f.build().unwrap();
    let linux = spec.linux().as_ref().unwrap();
    assert_eq!(
        linux.cgroups_path().clone().unwrap(),
        PathBuf::from("/cradle/abc")
    );
    let r = linux.resources().as_ref().unwrap();
    let cpu = r.cpu().as_ref().unwrap();
    assert_eq!(
        (cpu.shares(), cpu.quota(), cpu.period()),
        (Some(512), Some(50_000), Some(100_000))
    );
    assert_eq!(cpu.cpus().as_deref(), Some("0-1"));
    assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));
    assert_eq!(spec.process().as_ref().unwrap().oom_score_adj(), Some(500));
    let devices = r.devices().clone().unwrap();
    assert!(!devices[0].allow(), "first rule denies everything");
    assert!(
        devices
            .iter()
            .any(|d| d.allow() && d.major() == Some(1) && d.minor() == Some(3))
    );
}

#[test]
fn relative_cgroups_path_is_refused() {
    let r = Fixture::new().build_in("../escape");
    assert!(matches!(r, Err(SpecError::Build(_))));
}

#[test]
fn systemd_cgroups_paths_are_taken_and_malformed_ones_refused() {
    let f = Fixture::new();
    let spec = f
        .build_in("kubepods-besteffort-podab.slice:cri-cradle:abc")
        .unwrap();
    assert_eq!(
        spec.linux().as_ref().unwrap().cgroups_path().as_deref(),
        Some(Path::new("kubepods-besteffort-podab.slice:cri-cradle:abc"))
    );
    for bad in [
        "pod.slice:cri-cradle:../x",
        "pod.slice:cri-cradle:a/b",
        "notaslice:cri-cradle:abc",
        "pod.slice::abc",
        "pod.slice:a:b:c",
    ] {
        assert!(matches!(f.build_in(bad), Err(SpecError::Build(_))), "{bad}");
    }
}

#[test]
fn default_mounts_masked_paths_and_cri_bind_mounts() {
    let mut f = Fixture::new();
    f.config.mounts = vec![
        cri::Mount {
            container_path: "/data/sub".into(),
            host_path: "/tmp/sub".into(),
            ..Default::default()
        },
        cri::Mount {
            container_path: "/data".into(),
            host_path: "/tmp/data".into(),
            readonly: true,
            propagation: cri::MountPropagation::PropagationHostToContainer as i32,
            ..Default::default()
        },
        cri::Mount {
            container_path: "/dev/shm".into(),
            host_path: "/run/cradle/shm/s1".into(),
            ..Default::default()
        },
    ];
    let spec = f.build().unwrap();
    let mounts = spec.mounts().clone().unwrap();
    let dests: Vec<_> = mounts
        .iter()
        .map(|m| m.destination().display().to_string())
        .collect();
    assert_eq!(
        dests,
        strings(&[
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/mqueue",
            "/sys",
            "/sys/fs/cgroup",
            "/data",
            "/data/sub",
            "/dev/shm",
        ])
    );
    let data = &mounts[6];
    assert_eq!(data.typ().as_deref(), Some("bind"));
    assert_eq!(
        data.options().clone().unwrap(),
        strings(&["rbind", "rslave", "ro"])
    );
    let linux = spec.linux().as_ref().unwrap();
    assert_eq!(linux.rootfs_propagation().as_deref(), Some("rslave"));
    assert!(
        linux
            .masked_paths()
            .clone()
            .unwrap()
            .contains(&"/proc/kcore".to_string())
    );
    assert!(
        linux
            .readonly_paths()
            .clone()
            .unwrap()
            .contains(&"/proc/sys".to_string())
    );
    assert!(linux.seccomp().is_none());
}

#[test]
fn cri_annotations_are_added() {
    let mut f = Fixture::new();
    f.config.annotations.insert("user".into(), "value".into());
    let spec = f.build().unwrap();
    let a = spec.annotations().clone().unwrap();
    assert_eq!(a.get("user").map(String::as_str), Some("value"));
    assert_eq!(
        a.get(ANNOTATION_CONTAINER_TYPE).map(String::as_str),
        Some("container")
    );
    assert_eq!(
        a.get(ANNOTATION_SANDBOX_UID).map(String::as_str),
        Some("uid-1")
    );
    assert_eq!(spec.hostname().as_deref(), Some("podhost"));
}
