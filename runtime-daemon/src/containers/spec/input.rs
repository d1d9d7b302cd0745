//! The builder's input: what the container manager hands over, and what it
//! read from the node and the image first.

use cradle_proto::cri;
use std::path::{Path, PathBuf};

/// The sandbox namespaces a container joins, as pinned files
/// (`<state-dir>/ns/<sandbox-id>/{net,ipc,uts}`). `None` means the host's
/// namespace: the namespace is left out of the spec entirely.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxNamespaces {
    /// The pod's network namespace.
    pub net: Option<PathBuf>,
    /// The pod's IPC namespace.
    pub ipc: Option<PathBuf>,
    /// The pod's UTS namespace (its hostname).
    pub uts: Option<PathBuf>,
}

/// The pod's user namespace a container joins (CRI `userns_options` mode
/// POD): the pause process's, with the maps the pod was created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNsJoin {
    /// `/proc/<pause pid>/ns/user`.
    pub path: PathBuf,
    /// Its uid mappings.
    pub uids: Vec<cri::IdMapping>,
    /// Its gid mappings.
    pub gids: Vec<cri::IdMapping>,
}

/// What the daemon read from the node and the image for the builder.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// The image's /etc/passwd and /etc/group.
    pub users: crate::containers::users::UserDb,
    /// The profile file of a seccomp `Localhost` choice.
    pub localhost_seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// Device nodes: the CRI devices, plus every host device when privileged.
    pub devices: Vec<crate::containers::devices::Device>,
    /// The pid namespace to join: the target container's (mode TARGET) or
    /// the pod's shared one (mode POD, when the pause process has its own).
    pub pid_ns: Option<PathBuf>,
    /// The runtime handler and the kernel can make recursive read-only
    /// mounts (`rro`).
    pub recursive_read_only: bool,
    /// The daemon's own bounding set, which the runtime inherits: what a
    /// privileged container and `add: ["ALL"]` get, as containerd's
    /// `WithAllCurrentCapabilities` (`None`: every capability the format
    /// knows).
    pub current_capabilities: Option<oci_spec::runtime::Capabilities>,
    /// The edits of the container's CDI devices, completed from the host.
    pub cdi: crate::containers::cdi::CdiEdits,
    /// The lowest `oom_score_adj` the runtime can set: the daemon's own when
    /// it may not lower it (no CAP_SYS_RESOURCE), as containerd's
    /// `restrict_oom_score_adj`; `None` where any value can be set.
    pub oom_score_adj_floor: Option<i32>,
    /// The pod's user namespace, when it has one of its own.
    pub user_ns: Option<UserNsJoin>,
    /// The node runs the unified cgroup hierarchy alone (v2): a container
    /// then gets a cgroup namespace of its own, as containerd and CRI-O
    /// give, so its `/sys/fs/cgroup` is its own cgroup, not the node's root.
    pub cgroup_v2: bool,
    /// The AppArmor profile the container runs under, chosen (and made
    /// sure loaded) by `security::apparmor_profile` before the build;
    /// `None`: no profile.
    pub apparmor_profile: Option<String>,
}

/// Everything the builder needs; borrowed from the container manager.
pub struct SpecInput<'a> {
    /// The container's id, named in errors.
    pub container_id: &'a str,
    /// The CreateContainer request's config.
    pub config: &'a cri::ContainerConfig,
    /// The pod's config, from its RunPodSandbox request.
    pub sandbox: &'a cri::PodSandboxConfig,
    /// The image's config: its defaults for command, env, user, workdir.
    pub image: &'a cradle_snapshotter::ImageConfig,
    /// Absolute path of the mounted overlay.
    pub rootfs: &'a Path,
    /// The pod's pinned namespaces the container joins.
    pub namespaces: &'a SandboxNamespaces,
    /// e.g. `/kubepods/pod1/<container-id>`.
    pub cgroups_path: &'a str,
    /// What was read from the node and the image beforehand.
    pub resolved: &'a Resolved,
}
