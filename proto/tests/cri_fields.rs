//! What Cradle does with every rpc and every field of the CRI, checked
//! against `cri/runtime/v1/api.proto`, and the source of `docs/cri-fields.md`.
//!
//! The table is the daemon's contract with the kubelet written down in one
//! place. It fails when the .proto gains an rpc, a message or a field nobody
//! classified (a newer cri-api), when a field is classified the wrong way
//! round (a request's field "filled", a response's "read"), when the
//! function it names no longer exists in `runtime-daemon/src`, and when
//! `docs/cri-fields.md` no longer says what the table says. After changing
//! the table, `CRADLE_BLESS=1 cargo test -p cradle-proto --test cri_fields`
//! rewrites the doc.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What Cradle does with one field.
#[derive(Clone, Copy)]
enum Use {
    /// A request field the daemon acts on, in this function
    /// (`file.rs::function` under `runtime-daemon/src`).
    Read(&'static str),
    /// A response field the daemon sets, in this function.
    Filled(&'static str),
    /// A request field dropped on purpose, for the reason given.
    Ignored(&'static str),
    /// A response field left at its default on purpose, for the reason given.
    Unset(&'static str),
}

/// How a message is classified: field by field, or all its fields alike
/// (Windows messages, the messages of an rpc Cradle does not serve).
enum Rule {
    Fields(&'static [(&'static str, Use)]),
    Whole(Use),
}

/// What Cradle does with one rpc.
enum Rpc {
    /// Served by this function.
    Served(&'static str),
    /// Answered `Unimplemented`, for the reason given.
    Unimplemented(&'static str),
}

use Rpc::{Served, Unimplemented};
use Rule::{Fields, Whole};
use Use::{Filled, Ignored, Read, Unset};

const WINDOWS_ONLY: &str = "Windows only: Cradle runs Linux containers";
const WINDOWS: Use = Ignored(WINDOWS_ONLY);
const WINDOWS_OUT: Use = Unset(WINDOWS_ONLY);
const NO_PSI: Use =
    Unset("pressure stall information is per cgroup only on cgroup v2; not sampled yet");

/// Every rpc of both services.
const RPCS: &[(&str, Rpc)] = &[
    ("Version", Served("cri/runtime_info.rs::version_impl")),
    (
        "RunPodSandbox",
        Served("cri/sandbox.rs::run_pod_sandbox_impl"),
    ),
    (
        "StopPodSandbox",
        Served("cri/sandbox.rs::stop_pod_sandbox_impl"),
    ),
    (
        "RemovePodSandbox",
        Served("cri/sandbox.rs::remove_pod_sandbox_impl"),
    ),
    (
        "PodSandboxStatus",
        Served("cri/sandbox.rs::pod_sandbox_status_impl"),
    ),
    (
        "ListPodSandbox",
        Served("cri/sandbox.rs::list_pod_sandbox_impl"),
    ),
    (
        "StreamPodSandboxes",
        Served("cri/list_streaming.rs::stream_pod_sandboxes_impl"),
    ),
    (
        "CreateContainer",
        Served("cri/container.rs::create_container_impl"),
    ),
    (
        "StartContainer",
        Served("cri/container.rs::start_container_impl"),
    ),
    (
        "StopContainer",
        Served("cri/container.rs::stop_container_impl"),
    ),
    (
        "RemoveContainer",
        Served("cri/container.rs::remove_container_impl"),
    ),
    (
        "ListContainers",
        Served("cri/container.rs::list_containers_impl"),
    ),
    (
        "StreamContainers",
        Served("cri/list_streaming.rs::stream_containers_impl"),
    ),
    (
        "ContainerStatus",
        Served("cri/container.rs::container_status_impl"),
    ),
    (
        "UpdateContainerResources",
        Served("cri/container.rs::update_container_resources_impl"),
    ),
    (
        "ReopenContainerLog",
        Served("cri/container.rs::reopen_container_log_impl"),
    ),
    ("ExecSync", Served("cri/container.rs::exec_sync_impl")),
    ("Exec", Served("cri/streaming.rs::exec_impl")),
    ("Attach", Served("cri/streaming.rs::attach_impl")),
    ("PortForward", Served("cri/streaming.rs::port_forward_impl")),
    (
        "ContainerStats",
        Served("cri/stats.rs::container_stats_impl"),
    ),
    (
        "ListContainerStats",
        Served("cri/stats.rs::list_container_stats_impl"),
    ),
    (
        "StreamContainerStats",
        Served("cri/list_streaming.rs::stream_container_stats_impl"),
    ),
    (
        "PodSandboxStats",
        Served("cri/sandbox_stats.rs::pod_sandbox_stats_impl"),
    ),
    (
        "ListPodSandboxStats",
        Served("cri/sandbox_stats.rs::list_pod_sandbox_stats_impl"),
    ),
    (
        "StreamPodSandboxStats",
        Served("cri/list_streaming.rs::stream_pod_sandbox_stats_impl"),
    ),
    (
        "UpdateRuntimeConfig",
        Served("cri/runtime_info.rs::update_runtime_config_impl"),
    ),
    ("Status", Served("cri/runtime_info.rs::status_impl")),
    (
        "CheckpointContainer",
        Unimplemented(
            "checkpoints need CRIU, which no Cradle handler drives; the kubelet's checkpoint API \
             (ContainerCheckpoint) reports the error to its caller",
        ),
    ),
    (
        "GetContainerEvents",
        Served("cri/events.rs::container_events_impl"),
    ),
    (
        "ListMetricDescriptors",
        Served("cri/metrics.rs::list_metric_descriptors_impl"),
    ),
    (
        "ListPodSandboxMetrics",
        Served("cri/metrics.rs::list_pod_sandbox_metrics_impl"),
    ),
    (
        "StreamPodSandboxMetrics",
        Served("cri/list_streaming.rs::stream_pod_sandbox_metrics_impl"),
    ),
    (
        "RuntimeConfig",
        Served("cri/runtime_info.rs::runtime_config_impl"),
    ),
    (
        "UpdatePodSandboxResources",
        Unimplemented(
            "best effort for the kubelet, which resizes the pod cgroup itself before the call and \
             goes on when it fails; Cradle keeps no pod-level resources and has no NRI plugins to \
             tell",
        ),
    ),
    ("ListImages", Served("cri/image.rs::list_images_impl")),
    (
        "StreamImages",
        Served("cri/list_streaming.rs::stream_images_impl"),
    ),
    ("ImageStatus", Served("cri/image.rs::image_status_impl")),
    ("PullImage", Served("cri/image.rs::pull_image_impl")),
    ("RemoveImage", Served("cri/image.rs::remove_image_impl")),
    ("ImageFsInfo", Served("cri/image.rs::image_fs_info_impl")),
];

/// (message, rule), every message of the .proto, fields by their .proto names.
const TABLE: &[(&str, Rule)] = &[
    // ---- Version, runtime status and configuration ----
    (
        "VersionRequest",
        Fields(&[(
            "version",
            Ignored(
                "Cradle speaks CRI v1 only and answers the same whatever the kubelet's version",
            ),
        )]),
    ),
    (
        "VersionResponse",
        Fields(&[
            ("version", Filled("cri/runtime_info.rs::version_impl")),
            ("runtime_name", Filled("cri/runtime_info.rs::version_impl")),
            (
                "runtime_version",
                Filled("cri/runtime_info.rs::version_impl"),
            ),
            (
                "runtime_api_version",
                Filled("cri/runtime_info.rs::version_impl"),
            ),
        ]),
    ),
    (
        "StatusRequest",
        Fields(&[("verbose", Read("cri/runtime_info.rs::status_impl"))]),
    ),
    (
        "StatusResponse",
        Fields(&[
            ("status", Filled("cri/runtime_info.rs::status_impl")),
            ("info", Filled("cri/runtime_info.rs::status_impl")),
            (
                "runtime_handlers",
                Filled("cri/runtime_info.rs::status_impl"),
            ),
            ("features", Filled("cri/runtime_info.rs::status_impl")),
        ]),
    ),
    (
        "RuntimeStatus",
        Fields(&[("conditions", Filled("cri/runtime_info.rs::status_impl"))]),
    ),
    (
        "RuntimeCondition",
        Fields(&[
            ("type", Filled("cri/runtime_info.rs::condition")),
            ("status", Filled("cri/runtime_info.rs::condition")),
            ("reason", Filled("cri/runtime_info.rs::condition")),
            ("message", Filled("cri/runtime_info.rs::condition")),
        ]),
    ),
    (
        "RuntimeHandler",
        Fields(&[
            ("name", Filled("cri/runtime_info.rs::status_impl")),
            ("features", Filled("cri/runtime_info.rs::status_impl")),
        ]),
    ),
    (
        "RuntimeHandlerFeatures",
        Fields(&[
            (
                "recursive_read_only_mounts",
                Filled("cri/runtime_info.rs::status_impl"),
            ),
            (
                "user_namespaces",
                Filled("cri/runtime_info.rs::status_impl"),
            ),
        ]),
    ),
    (
        "RuntimeFeatures",
        Fields(&[
            (
                "supplemental_groups_policy",
                Filled("cri/runtime_info.rs::status_impl"),
            ),
            (
                "user_namespaces_host_network",
                Filled("cri/runtime_info.rs::status_impl"),
            ),
        ]),
    ),
    (
        "UpdateRuntimeConfigRequest",
        Fields(&[(
            "runtime_config",
            Read("cri/runtime_info.rs::update_runtime_config_impl"),
        )]),
    ),
    ("UpdateRuntimeConfigResponse", Fields(&[])),
    (
        "RuntimeConfig",
        Fields(&[(
            "network_config",
            Read("cri/runtime_info.rs::update_runtime_config_impl"),
        )]),
    ),
    (
        "NetworkConfig",
        Fields(&[(
            "pod_cidr",
            Read("cri/runtime_info.rs::update_runtime_config_impl"),
        )]),
    ),
    ("RuntimeConfigRequest", Fields(&[])),
    (
        "RuntimeConfigResponse",
        Fields(&[("linux", Filled("cri/runtime_info.rs::runtime_config_impl"))]),
    ),
    (
        "LinuxRuntimeConfiguration",
        Fields(&[(
            "cgroup_driver",
            Filled("cri/runtime_info.rs::runtime_config_impl"),
        )]),
    ),
    // ---- Pod sandboxes ----
    (
        "RunPodSandboxRequest",
        Fields(&[
            ("config", Read("pods/run.rs::run")),
            ("runtime_handler", Read("pods/run.rs::run")),
        ]),
    ),
    (
        "RunPodSandboxResponse",
        Fields(&[(
            "pod_sandbox_id",
            Filled("cri/sandbox.rs::run_pod_sandbox_impl"),
        )]),
    ),
    (
        "PodSandboxConfig",
        Fields(&[
            ("metadata", Read("pods/record.rs::name_key")),
            ("hostname", Read("pods/files.rs::write_sandbox_files")),
            ("log_directory", Read("containers/log_path.rs::confined")),
            ("dns_config", Read("pods/files.rs::render_resolv_conf")),
            ("port_mappings", Read("platform/cni.rs::pod_network")),
            ("labels", Read("pods/record.rs::to_status")),
            ("annotations", Read("pods/record.rs::to_status")),
            ("linux", Read("pods/run.rs::build")),
            ("windows", WINDOWS),
        ]),
    ),
    (
        "PodSandboxMetadata",
        Fields(&[
            ("name", Read("pods/record.rs::name_key")),
            ("uid", Read("pods/record.rs::name_key")),
            ("namespace", Read("pods/record.rs::name_key")),
            ("attempt", Read("pods/record.rs::name_key")),
        ]),
    ),
    (
        "DNSConfig",
        Fields(&[
            ("servers", Read("pods/files.rs::render_resolv_conf")),
            ("searches", Read("pods/files.rs::render_resolv_conf")),
            ("options", Read("pods/files.rs::render_resolv_conf")),
        ]),
    ),
    (
        "PortMapping",
        Fields(&[
            ("protocol", Read("platform/cni.rs::pod_network")),
            ("container_port", Read("platform/cni.rs::pod_network")),
            ("host_port", Read("platform/cni.rs::pod_network")),
            ("host_ip", Read("platform/cni.rs::pod_network")),
        ]),
    ),
    (
        "LinuxPodSandboxConfig",
        Fields(&[
            ("cgroup_parent", Read("core/context.rs::cgroup_parent")),
            ("security_context", Read("pods/run.rs::build")),
            ("sysctls", Read("pods/run.rs::checked_sysctls")),
            (
                "overhead",
                Ignored("the kubelet sizes the pod cgroup (cgroup_parent) itself"),
            ),
            (
                "resources",
                Ignored("the kubelet sizes the pod cgroup (cgroup_parent) itself"),
            ),
        ]),
    ),
    (
        "LinuxSandboxSecurityContext",
        Fields(&[
            ("namespace_options", Read("pods/run.rs::pin_namespaces")),
            (
                "selinux_options",
                Read("containers/spec/security.rs::check_lsm"),
            ),
            (
                "run_as_user",
                Ignored("the pause process is the shim; containers carry their own user"),
            ),
            (
                "run_as_group",
                Ignored("the pause process is the shim; containers carry their own group"),
            ),
            (
                "readonly_rootfs",
                Ignored("the pause process is the shim and has no image rootfs"),
            ),
            (
                "supplemental_groups",
                Ignored("the kubelet copies them into each container's security context"),
            ),
            (
                "supplemental_groups_policy",
                Ignored("the kubelet copies it into each container's security context"),
            ),
            (
                "privileged",
                Ignored("the pause process is the shim; each container says whether it is"),
            ),
            (
                "seccomp",
                Ignored("the pause process is the shim; containers carry their own profile"),
            ),
            (
                "apparmor",
                Ignored("the pause process is the shim; containers carry their own profile"),
            ),
            (
                "seccomp_profile_path",
                Ignored("deprecated; the pause process is the shim"),
            ),
        ]),
    ),
    (
        "NamespaceOption",
        Fields(&[
            ("network", Read("containers/spec/linux.rs::namespaces")),
            ("pid", Read("containers/create.rs::pid_namespace")),
            ("ipc", Read("containers/spec/linux.rs::namespaces")),
            ("target_id", Read("containers/create.rs::pid_namespace")),
            ("userns_options", Read("cri/validate/mod.rs::pod_config")),
        ]),
    ),
    (
        "UserNamespace",
        Fields(&[
            ("mode", Read("cri/validate/userns.rs::check")),
            ("uids", Read("pods/userns.rs::pod_mappings")),
            ("gids", Read("pods/userns.rs::pod_mappings")),
        ]),
    ),
    (
        "IDMapping",
        Fields(&[
            ("host_id", Read("pods/userns.rs::shim_args")),
            ("container_id", Read("pods/userns.rs::shim_args")),
            ("length", Read("pods/userns.rs::shim_args")),
        ]),
    ),
    (
        "StopPodSandboxRequest",
        Fields(&[(
            "pod_sandbox_id",
            Read("cri/sandbox.rs::stop_pod_sandbox_impl"),
        )]),
    ),
    ("StopPodSandboxResponse", Fields(&[])),
    (
        "RemovePodSandboxRequest",
        Fields(&[(
            "pod_sandbox_id",
            Read("cri/sandbox.rs::remove_pod_sandbox_impl"),
        )]),
    ),
    ("RemovePodSandboxResponse", Fields(&[])),
    (
        "PodSandboxStatusRequest",
        Fields(&[
            (
                "pod_sandbox_id",
                Read("cri/sandbox.rs::pod_sandbox_status_impl"),
            ),
            ("verbose", Read("cri/sandbox.rs::pod_sandbox_status_impl")),
        ]),
    ),
    (
        "PodSandboxStatusResponse",
        Fields(&[
            ("status", Filled("pods/record.rs::to_status")),
            ("info", Filled("cri/sandbox.rs::sandbox_info")),
            (
                "containers_statuses",
                Filled("cri/sandbox.rs::pod_sandbox_status_impl"),
            ),
            (
                "timestamp",
                Filled("cri/sandbox.rs::pod_sandbox_status_impl"),
            ),
        ]),
    ),
    (
        "PodSandboxStatus",
        Fields(&[
            ("id", Filled("pods/record.rs::to_status")),
            ("metadata", Filled("pods/record.rs::to_status")),
            ("state", Filled("pods/record.rs::to_status")),
            ("created_at", Filled("pods/record.rs::to_status")),
            ("network", Filled("pods/record.rs::to_status")),
            ("linux", Filled("pods/record.rs::to_status")),
            ("labels", Filled("pods/record.rs::to_status")),
            ("annotations", Filled("pods/record.rs::to_status")),
            ("runtime_handler", Filled("pods/record.rs::to_status")),
        ]),
    ),
    (
        "PodSandboxNetworkStatus",
        Fields(&[
            ("ip", Filled("pods/record.rs::to_status")),
            ("additional_ips", Filled("pods/record.rs::to_status")),
        ]),
    ),
    (
        "PodIP",
        Fields(&[("ip", Filled("pods/record.rs::to_status"))]),
    ),
    (
        "LinuxPodSandboxStatus",
        Fields(&[("namespaces", Filled("pods/record.rs::to_status"))]),
    ),
    (
        "Namespace",
        Fields(&[("options", Filled("pods/record.rs::namespace_options"))]),
    ),
    (
        "ListPodSandboxRequest",
        Fields(&[("filter", Read("cri/sandbox.rs::list_pod_sandbox_impl"))]),
    ),
    (
        "PodSandboxFilter",
        Fields(&[
            ("id", Read("cri/sandbox.rs::list_pod_sandbox_impl")),
            ("state", Read("cri/sandbox.rs::list_pod_sandbox_impl")),
            (
                "label_selector",
                Read("cri/sandbox.rs::list_pod_sandbox_impl"),
            ),
        ]),
    ),
    (
        "PodSandboxStateValue",
        Fields(&[("state", Read("cri/sandbox.rs::list_pod_sandbox_impl"))]),
    ),
    (
        "ListPodSandboxResponse",
        Fields(&[("items", Filled("cri/sandbox.rs::list_pod_sandbox_impl"))]),
    ),
    (
        "PodSandbox",
        Fields(&[
            ("id", Filled("pods/record.rs::to_list_item")),
            ("metadata", Filled("pods/record.rs::to_list_item")),
            ("state", Filled("pods/record.rs::to_list_item")),
            ("created_at", Filled("pods/record.rs::to_list_item")),
            ("labels", Filled("pods/record.rs::to_list_item")),
            ("annotations", Filled("pods/record.rs::to_list_item")),
            ("runtime_handler", Filled("pods/record.rs::to_list_item")),
        ]),
    ),
    (
        "StreamPodSandboxesRequest",
        Fields(&[(
            "filter",
            Read("cri/list_streaming.rs::stream_pod_sandboxes_impl"),
        )]),
    ),
    (
        "StreamPodSandboxesResponse",
        Fields(&[(
            "pod_sandboxes",
            Filled("cri/list_streaming.rs::stream_pod_sandboxes_impl"),
        )]),
    ),
    (
        "UpdatePodSandboxResourcesRequest",
        Whole(Ignored("its rpc answers Unimplemented (see the rpcs)")),
    ),
    ("UpdatePodSandboxResourcesResponse", Fields(&[])),
    // ---- Containers ----
    (
        "CreateContainerRequest",
        Fields(&[
            (
                "pod_sandbox_id",
                Read("cri/container.rs::create_container_impl"),
            ),
            ("config", Read("containers/create.rs::create")),
            (
                "sandbox_config",
                Ignored("the daemon uses the config it recorded at RunPodSandbox"),
            ),
        ]),
    ),
    (
        "CreateContainerResponse",
        Fields(&[(
            "container_id",
            Filled("cri/container.rs::create_container_impl"),
        )]),
    ),
    (
        "ContainerConfig",
        Fields(&[
            ("metadata", Read("containers/record.rs::name_key")),
            ("image", Read("containers/create.rs::create")),
            ("command", Read("containers/spec/process.rs::args")),
            ("args", Read("containers/spec/process.rs::args")),
            ("working_dir", Read("containers/spec/process.rs::cwd")),
            ("envs", Read("containers/spec/process.rs::env")),
            ("mounts", Read("containers/spec/mounts.rs::build_mounts")),
            ("devices", Read("containers/devices.rs::resolve")),
            ("labels", Read("containers/record.rs::to_status")),
            ("annotations", Read("containers/cdi/names.rs::requested")),
            ("log_path", Read("containers/log_path.rs::confined")),
            ("stdin", Read("containers/create.rs::start_shim")),
            ("stdin_once", Read("containers/create.rs::start_shim")),
            ("tty", Read("containers/spec/process.rs::build_process")),
            ("linux", Read("containers/spec/linux.rs::build_linux")),
            ("windows", WINDOWS),
            ("CDI_devices", Read("containers/cdi/names.rs::requested")),
            (
                "stop_signal",
                Read("containers/stop_signal.rs::stop_signal"),
            ),
        ]),
    ),
    (
        "ContainerMetadata",
        Fields(&[
            ("name", Read("containers/record.rs::name_key")),
            ("attempt", Read("containers/record.rs::name_key")),
        ]),
    ),
    (
        "KeyValue",
        Fields(&[
            ("key", Read("containers/spec/process.rs::env")),
            ("value", Read("containers/spec/process.rs::env")),
        ]),
    ),
    (
        "Mount",
        Fields(&[
            (
                "container_path",
                Read("containers/spec/mounts.rs::bind_mount"),
            ),
            ("host_path", Read("containers/spec/mounts.rs::bind_mount")),
            ("readonly", Read("containers/spec/mounts.rs::bind_mount")),
            (
                "selinux_relabel",
                Ignored("Cradle runs without SELinux and labels no mount source"),
            ),
            ("propagation", Read("containers/spec/mounts.rs::bind_mount")),
            ("uidMappings", Read("containers/spec/mounts.rs::bind_mount")),
            ("gidMappings", Read("containers/spec/mounts.rs::bind_mount")),
            (
                "recursive_read_only",
                Read("containers/spec/mounts.rs::bind_mount"),
            ),
            ("image", Read("containers/image_volumes.rs::mount_all")),
            (
                "image_sub_path",
                Read("containers/image_volumes.rs::mount_all"),
            ),
        ]),
    ),
    (
        "Device",
        Fields(&[
            ("container_path", Read("containers/devices.rs::resolve")),
            ("host_path", Read("containers/devices.rs::resolve")),
            ("permissions", Read("containers/devices.rs::resolve")),
        ]),
    ),
    (
        "CDIDevice",
        Fields(&[("name", Read("containers/cdi/names.rs::requested"))]),
    ),
    (
        "LinuxContainerConfig",
        Fields(&[
            ("resources", Read("containers/spec/linux.rs::resources")),
            ("security_context", Read("containers/spec.rs::build_spec")),
        ]),
    ),
    (
        "LinuxContainerResources",
        Fields(&[
            ("cpu_period", Read("containers/spec/linux.rs::resources")),
            ("cpu_quota", Read("containers/spec/linux.rs::resources")),
            ("cpu_shares", Read("containers/spec/linux.rs::resources")),
            (
                "memory_limit_in_bytes",
                Read("containers/spec/linux.rs::resources"),
            ),
            (
                "oom_score_adj",
                Read("containers/spec/process.rs::build_process"),
            ),
            ("cpuset_cpus", Read("containers/spec/linux.rs::resources")),
            ("cpuset_mems", Read("containers/spec/linux.rs::resources")),
            (
                "hugepage_limits",
                Read("containers/spec/linux.rs::resources"),
            ),
            ("unified", Read("containers/spec/linux.rs::resources")),
            (
                "memory_swap_limit_in_bytes",
                Read("containers/spec/linux.rs::resources"),
            ),
        ]),
    ),
    (
        "HugepageLimit",
        Fields(&[
            (
                "page_size",
                Read("containers/hugetlb.rs::drop_unenforceable_zero_limits"),
            ),
            ("limit", Read("containers/spec/linux.rs::resources")),
        ]),
    ),
    (
        "LinuxContainerSecurityContext",
        Fields(&[
            (
                "capabilities",
                Read("containers/spec/process.rs::effective_capabilities"),
            ),
            ("privileged", Read("containers/spec.rs::build_spec")),
            (
                "namespace_options",
                Read("containers/spec/linux.rs::namespaces"),
            ),
            (
                "selinux_options",
                Read("containers/spec/security.rs::check_lsm"),
            ),
            ("run_as_user", Read("containers/spec/process.rs::run_as")),
            ("run_as_group", Read("containers/spec/process.rs::run_as")),
            (
                "run_as_username",
                Read("containers/spec/process.rs::run_as"),
            ),
            ("readonly_rootfs", Read("containers/spec.rs::build_spec")),
            (
                "supplemental_groups",
                Read("containers/spec/process.rs::user"),
            ),
            (
                "supplemental_groups_policy",
                Read("containers/spec/process.rs::strict_groups"),
            ),
            (
                "no_new_privs",
                Read("containers/spec/process.rs::build_process"),
            ),
            (
                "masked_paths",
                Read("containers/spec/linux.rs::build_linux"),
            ),
            (
                "readonly_paths",
                Read("containers/spec/linux.rs::build_linux"),
            ),
            (
                "seccomp",
                Read("containers/spec/security.rs::seccomp_choice"),
            ),
            (
                "apparmor",
                Read("containers/spec/security.rs::apparmor_choice"),
            ),
            (
                "apparmor_profile",
                Read("containers/spec/security.rs::apparmor_choice"),
            ),
            (
                "seccomp_profile_path",
                Read("containers/spec/security.rs::seccomp_choice"),
            ),
        ]),
    ),
    (
        "Capability",
        Fields(&[
            (
                "add_capabilities",
                Read("containers/spec/process.rs::effective_capabilities"),
            ),
            (
                "drop_capabilities",
                Read("containers/spec/process.rs::effective_capabilities"),
            ),
            (
                "add_ambient_capabilities",
                Read("containers/spec/process.rs::effective_capabilities"),
            ),
        ]),
    ),
    (
        "SELinuxOption",
        Fields(&[
            ("user", Read("containers/spec/security.rs::check_lsm")),
            ("role", Read("containers/spec/security.rs::check_lsm")),
            ("type", Read("containers/spec/security.rs::check_lsm")),
            ("level", Read("containers/spec/security.rs::check_lsm")),
        ]),
    ),
    (
        "SecurityProfile",
        Fields(&[
            (
                "profile_type",
                Read("containers/spec/security.rs::seccomp_choice"),
            ),
            (
                "localhost_ref",
                Read("containers/spec/security.rs::seccomp_choice"),
            ),
        ]),
    ),
    (
        "Int64Value",
        Fields(&[("value", Read("containers/spec/process.rs::run_as"))]),
    ),
    (
        "StartContainerRequest",
        Fields(&[(
            "container_id",
            Read("cri/container.rs::start_container_impl"),
        )]),
    ),
    ("StartContainerResponse", Fields(&[])),
    (
        "StopContainerRequest",
        Fields(&[
            (
                "container_id",
                Read("cri/container.rs::stop_container_impl"),
            ),
            ("timeout", Read("containers/stop.rs::stop")),
        ]),
    ),
    ("StopContainerResponse", Fields(&[])),
    (
        "RemoveContainerRequest",
        Fields(&[(
            "container_id",
            Read("cri/container.rs::remove_container_impl"),
        )]),
    ),
    ("RemoveContainerResponse", Fields(&[])),
    (
        "ListContainersRequest",
        Fields(&[("filter", Read("cri/container.rs::list_containers_impl"))]),
    ),
    (
        "ContainerFilter",
        Fields(&[
            ("id", Read("cri/container.rs::list_containers_impl")),
            ("state", Read("cri/container.rs::list_containers_impl")),
            (
                "pod_sandbox_id",
                Read("cri/container.rs::list_containers_impl"),
            ),
            (
                "label_selector",
                Read("cri/container.rs::list_containers_impl"),
            ),
        ]),
    ),
    (
        "ContainerStateValue",
        Fields(&[("state", Read("cri/container.rs::list_containers_impl"))]),
    ),
    (
        "ListContainersResponse",
        Fields(&[(
            "containers",
            Filled("cri/container.rs::list_containers_impl"),
        )]),
    ),
    (
        "Container",
        Fields(&[
            ("id", Filled("containers/record.rs::to_list_item")),
            (
                "pod_sandbox_id",
                Filled("containers/record.rs::to_list_item"),
            ),
            ("metadata", Filled("containers/record.rs::to_list_item")),
            ("image", Filled("containers/record.rs::to_list_item")),
            ("image_ref", Filled("containers/record.rs::to_list_item")),
            ("state", Filled("containers/record.rs::to_list_item")),
            ("created_at", Filled("containers/record.rs::to_list_item")),
            ("labels", Filled("containers/record.rs::to_list_item")),
            ("annotations", Filled("containers/record.rs::to_list_item")),
            ("image_id", Filled("containers/record.rs::to_list_item")),
        ]),
    ),
    (
        "StreamContainersRequest",
        Fields(&[(
            "filter",
            Read("cri/list_streaming.rs::stream_containers_impl"),
        )]),
    ),
    (
        "StreamContainersResponse",
        Fields(&[(
            "containers",
            Filled("cri/list_streaming.rs::stream_containers_impl"),
        )]),
    ),
    (
        "ContainerStatusRequest",
        Fields(&[
            (
                "container_id",
                Read("cri/container.rs::container_status_impl"),
            ),
            ("verbose", Read("cri/container.rs::container_status_impl")),
        ]),
    ),
    (
        "ContainerStatusResponse",
        Fields(&[
            ("status", Filled("containers/record.rs::to_status")),
            ("info", Filled("cri/container.rs::verbose_info")),
        ]),
    ),
    (
        "ContainerStatus",
        Fields(&[
            ("id", Filled("containers/record.rs::to_status")),
            ("metadata", Filled("containers/record.rs::to_status")),
            ("state", Filled("containers/record.rs::to_status")),
            ("created_at", Filled("containers/record.rs::to_status")),
            ("started_at", Filled("containers/record.rs::to_status")),
            ("finished_at", Filled("containers/record.rs::to_status")),
            ("exit_code", Filled("containers/record.rs::to_status")),
            ("image", Filled("containers/record.rs::to_status")),
            ("image_ref", Filled("containers/record.rs::to_status")),
            ("reason", Filled("containers/record.rs::to_status")),
            ("message", Filled("containers/record.rs::to_status")),
            ("labels", Filled("containers/record.rs::to_status")),
            ("annotations", Filled("containers/record.rs::to_status")),
            ("mounts", Filled("containers/record.rs::to_status")),
            ("log_path", Filled("containers/record.rs::to_status")),
            ("resources", Filled("containers/record.rs::to_status")),
            ("image_id", Filled("containers/record.rs::to_status")),
            ("user", Filled("containers/create.rs::spec_user")),
            (
                "stop_signal",
                Filled("containers/stop_signal.rs::cri_signal"),
            ),
        ]),
    ),
    (
        "ContainerResources",
        Fields(&[
            ("linux", Filled("containers/record.rs::to_status")),
            ("windows", WINDOWS_OUT),
        ]),
    ),
    (
        "ContainerUser",
        Fields(&[("linux", Filled("containers/create.rs::spec_user"))]),
    ),
    (
        "LinuxContainerUser",
        Fields(&[
            ("uid", Filled("containers/create.rs::spec_user")),
            ("gid", Filled("containers/create.rs::spec_user")),
            (
                "supplemental_groups",
                Filled("containers/create.rs::spec_user"),
            ),
        ]),
    ),
    (
        "UpdateContainerResourcesRequest",
        Fields(&[
            (
                "container_id",
                Read("cri/container.rs::update_container_resources_impl"),
            ),
            ("linux", Read("containers/update.rs::update_resources")),
            ("windows", WINDOWS),
            (
                "annotations",
                Ignored("for NRI plugins and hooks, which Cradle does not run"),
            ),
        ]),
    ),
    ("UpdateContainerResourcesResponse", Fields(&[])),
    (
        "ReopenContainerLogRequest",
        Fields(&[(
            "container_id",
            Read("cri/container.rs::reopen_container_log_impl"),
        )]),
    ),
    ("ReopenContainerLogResponse", Fields(&[])),
    (
        "CheckpointContainerRequest",
        Whole(Ignored("its rpc answers Unimplemented (see the rpcs)")),
    ),
    ("CheckpointContainerResponse", Fields(&[])),
    // ---- Exec, attach, port forward ----
    (
        "ExecSyncRequest",
        Fields(&[
            ("container_id", Read("cri/container.rs::exec_sync_impl")),
            ("cmd", Read("containers/exec.rs::exec_sync")),
            ("timeout", Read("cri/container.rs::exec_sync_impl")),
        ]),
    ),
    (
        "ExecSyncResponse",
        Fields(&[
            ("stdout", Filled("cri/container.rs::exec_sync_impl")),
            ("stderr", Filled("cri/container.rs::exec_sync_impl")),
            ("exit_code", Filled("cri/container.rs::exec_sync_impl")),
        ]),
    ),
    (
        "ExecRequest",
        Fields(&[
            ("container_id", Read("cri/streaming.rs::exec_impl")),
            ("cmd", Read("cri/streaming.rs::exec_request")),
            ("tty", Read("cri/streaming.rs::exec_request")),
            ("stdin", Read("cri/streaming.rs::exec_request")),
            ("stdout", Read("cri/streaming.rs::exec_request")),
            ("stderr", Read("cri/streaming.rs::exec_request")),
        ]),
    ),
    (
        "ExecResponse",
        Fields(&[("url", Filled("cri/streaming.rs::exec_impl"))]),
    ),
    (
        "AttachRequest",
        Fields(&[
            ("container_id", Read("cri/streaming.rs::attach_impl")),
            ("stdin", Read("cri/streaming.rs::attach_request")),
            ("tty", Read("cri/streaming.rs::attach_request")),
            ("stdout", Read("cri/streaming.rs::attach_request")),
            ("stderr", Read("cri/streaming.rs::attach_request")),
        ]),
    ),
    (
        "AttachResponse",
        Fields(&[("url", Filled("cri/streaming.rs::attach_impl"))]),
    ),
    (
        "PortForwardRequest",
        Fields(&[
            (
                "pod_sandbox_id",
                Read("cri/streaming.rs::port_forward_impl"),
            ),
            ("port", Read("cri/streaming.rs::port_forward_request")),
        ]),
    ),
    (
        "PortForwardResponse",
        Fields(&[("url", Filled("cri/streaming.rs::port_forward_impl"))]),
    ),
    // ---- Events ----
    ("GetEventsRequest", Fields(&[])),
    (
        "ContainerEventResponse",
        Fields(&[
            ("container_id", Filled("cri/events.rs::response")),
            ("container_event_type", Filled("cri/events.rs::response")),
            ("created_at", Filled("cri/events.rs::response")),
            ("pod_sandbox_status", Filled("cri/events.rs::response")),
            ("containers_statuses", Filled("cri/events.rs::response")),
        ]),
    ),
    // ---- Stats ----
    (
        "ContainerStatsRequest",
        Fields(&[("container_id", Read("cri/stats.rs::container_stats_impl"))]),
    ),
    (
        "ContainerStatsResponse",
        Fields(&[("stats", Filled("cri/stats.rs::stats_of"))]),
    ),
    (
        "ListContainerStatsRequest",
        Fields(&[("filter", Read("cri/stats.rs::list_container_stats_impl"))]),
    ),
    (
        "ContainerStatsFilter",
        Fields(&[
            ("id", Read("cri/stats.rs::list_container_stats_impl")),
            (
                "pod_sandbox_id",
                Read("cri/stats.rs::list_container_stats_impl"),
            ),
            (
                "label_selector",
                Read("cri/stats.rs::list_container_stats_impl"),
            ),
        ]),
    ),
    (
        "ListContainerStatsResponse",
        Fields(&[("stats", Filled("cri/stats.rs::list_container_stats_impl"))]),
    ),
    (
        "StreamContainerStatsRequest",
        Fields(&[(
            "filter",
            Read("cri/list_streaming.rs::stream_container_stats_impl"),
        )]),
    ),
    (
        "StreamContainerStatsResponse",
        Fields(&[(
            "container_stats",
            Filled("cri/list_streaming.rs::stream_container_stats_impl"),
        )]),
    ),
    (
        "ContainerStats",
        Fields(&[
            ("attributes", Filled("cri/stats.rs::stats_of")),
            ("cpu", Filled("cri/stats.rs::cpu_usage")),
            ("memory", Filled("cri/stats.rs::memory_usage")),
            ("writable_layer", Filled("cri/stats.rs::writable_layer")),
            (
                "swap",
                Unset("not sampled yet: the kubelet then reports no swap use for the container"),
            ),
            (
                "io",
                Unset("not sampled yet (it carries only pressure, cgroup v2's)"),
            ),
        ]),
    ),
    (
        "ContainerAttributes",
        Fields(&[
            ("id", Filled("cri/stats.rs::stats_of")),
            ("metadata", Filled("cri/stats.rs::stats_of")),
            ("labels", Filled("cri/stats.rs::stats_of")),
            ("annotations", Filled("cri/stats.rs::stats_of")),
        ]),
    ),
    (
        "CpuUsage",
        Fields(&[
            ("timestamp", Filled("cri/stats.rs::cpu_usage")),
            ("usage_core_nano_seconds", Filled("cri/stats.rs::cpu_usage")),
            ("usage_nano_cores", Filled("cri/stats.rs::cpu_usage")),
            ("psi", NO_PSI),
        ]),
    ),
    (
        "MemoryUsage",
        Fields(&[
            ("timestamp", Filled("cri/stats.rs::memory_usage")),
            ("working_set_bytes", Filled("cri/stats.rs::memory_usage")),
            (
                "available_bytes",
                Unset("not computed yet: the container's memory limit is not sampled"),
            ),
            ("usage_bytes", Filled("cri/stats.rs::memory_usage")),
            ("rss_bytes", Filled("cri/stats.rs::memory_usage")),
            ("page_faults", Filled("cri/stats.rs::memory_usage")),
            ("major_page_faults", Filled("cri/stats.rs::memory_usage")),
            ("psi", NO_PSI),
        ]),
    ),
    ("IoUsage", Whole(NO_PSI)),
    ("PsiStats", Whole(NO_PSI)),
    ("PsiData", Whole(NO_PSI)),
    (
        "SwapUsage",
        Whole(Unset("not sampled yet (ContainerStats.swap is left out)")),
    ),
    (
        "UInt64Value",
        Fields(&[("value", Filled("cri/stats.rs::memory_usage"))]),
    ),
    (
        "FilesystemUsage",
        Fields(&[
            ("timestamp", Filled("cri/image.rs::filesystem_usage")),
            ("fs_id", Filled("cri/image.rs::filesystem_usage")),
            ("used_bytes", Filled("cri/image.rs::filesystem_usage")),
            ("inodes_used", Filled("cri/image.rs::filesystem_usage")),
        ]),
    ),
    (
        "FilesystemIdentifier",
        Fields(&[("mountpoint", Filled("cri/image.rs::filesystem_usage"))]),
    ),
    (
        "PodSandboxStatsRequest",
        Fields(&[(
            "pod_sandbox_id",
            Read("cri/sandbox_stats.rs::pod_sandbox_stats_impl"),
        )]),
    ),
    (
        "PodSandboxStatsResponse",
        Fields(&[("stats", Filled("cri/sandbox_stats.rs::pod_stats"))]),
    ),
    (
        "ListPodSandboxStatsRequest",
        Fields(&[(
            "filter",
            Read("cri/sandbox_stats.rs::list_pod_sandbox_stats_impl"),
        )]),
    ),
    (
        "PodSandboxStatsFilter",
        Fields(&[
            (
                "id",
                Read("cri/sandbox_stats.rs::list_pod_sandbox_stats_impl"),
            ),
            (
                "label_selector",
                Read("cri/sandbox_stats.rs::list_pod_sandbox_stats_impl"),
            ),
        ]),
    ),
    (
        "ListPodSandboxStatsResponse",
        Fields(&[(
            "stats",
            Filled("cri/sandbox_stats.rs::list_pod_sandbox_stats_impl"),
        )]),
    ),
    (
        "StreamPodSandboxStatsRequest",
        Fields(&[(
            "filter",
            Read("cri/list_streaming.rs::stream_pod_sandbox_stats_impl"),
        )]),
    ),
    (
        "StreamPodSandboxStatsResponse",
        Fields(&[(
            "pod_sandbox_stats",
            Filled("cri/list_streaming.rs::stream_pod_sandbox_stats_impl"),
        )]),
    ),
    (
        "PodSandboxStats",
        Fields(&[
            ("attributes", Filled("cri/sandbox_stats.rs::pod_stats")),
            ("linux", Filled("cri/sandbox_stats.rs::pod_stats")),
            ("windows", WINDOWS_OUT),
        ]),
    ),
    (
        "PodSandboxAttributes",
        Fields(&[
            ("id", Filled("cri/sandbox_stats.rs::pod_stats")),
            ("metadata", Filled("cri/sandbox_stats.rs::pod_stats")),
            ("labels", Filled("cri/sandbox_stats.rs::pod_stats")),
            ("annotations", Filled("cri/sandbox_stats.rs::pod_stats")),
        ]),
    ),
    (
        "LinuxPodSandboxStats",
        Fields(&[
            ("cpu", Filled("cri/sandbox_stats.rs::pod_stats")),
            ("memory", Filled("cri/sandbox_stats.rs::pod_stats")),
            ("network", Filled("cri/sandbox_stats.rs::pod_stats")),
            ("process", Filled("cri/sandbox_stats.rs::pod_stats")),
            ("containers", Filled("cri/sandbox_stats.rs::pod_stats")),
            (
                "io",
                Unset("not sampled yet (it carries only pressure, cgroup v2's)"),
            ),
        ]),
    ),
    (
        "NetworkUsage",
        Fields(&[
            ("timestamp", Filled("cri/sandbox_stats.rs::pod_stats")),
            (
                "default_interface",
                Filled("cri/sandbox_stats.rs::pod_stats"),
            ),
            ("interfaces", Filled("cri/sandbox_stats.rs::pod_stats")),
        ]),
    ),
    (
        "NetworkInterfaceUsage",
        Fields(&[
            ("name", Filled("cri/sandbox_stats.rs::interface")),
            ("rx_bytes", Filled("cri/sandbox_stats.rs::interface")),
            ("rx_errors", Filled("cri/sandbox_stats.rs::interface")),
            ("tx_bytes", Filled("cri/sandbox_stats.rs::interface")),
            ("tx_errors", Filled("cri/sandbox_stats.rs::interface")),
        ]),
    ),
    (
        "ProcessUsage",
        Fields(&[
            ("timestamp", Filled("cri/sandbox_stats.rs::pod_stats")),
            ("process_count", Filled("cri/sandbox_stats.rs::pod_stats")),
        ]),
    ),
    // ---- Metrics ----
    ("ListMetricDescriptorsRequest", Fields(&[])),
    (
        "ListMetricDescriptorsResponse",
        Fields(&[(
            "descriptors",
            Filled("cri/metrics.rs::list_metric_descriptors_impl"),
        )]),
    ),
    (
        "MetricDescriptor",
        Fields(&[
            ("name", Filled("cri/metrics.rs::descriptors")),
            ("help", Filled("cri/metrics.rs::descriptors")),
            ("label_keys", Filled("cri/metrics.rs::descriptors")),
        ]),
    ),
    ("ListPodSandboxMetricsRequest", Fields(&[])),
    (
        "ListPodSandboxMetricsResponse",
        Fields(&[(
            "pod_metrics",
            Filled("cri/metrics.rs::list_pod_sandbox_metrics_impl"),
        )]),
    ),
    ("StreamPodSandboxMetricsRequest", Fields(&[])),
    (
        "StreamPodSandboxMetricsResponse",
        Fields(&[(
            "pod_sandbox_metrics",
            Filled("cri/list_streaming.rs::stream_pod_sandbox_metrics_impl"),
        )]),
    ),
    (
        "PodSandboxMetrics",
        Fields(&[
            ("pod_sandbox_id", Filled("cri/metrics.rs::sandbox_metrics")),
            ("metrics", Filled("cri/metrics.rs::pod_metrics")),
            (
                "container_metrics",
                Filled("cri/metrics.rs::sandbox_metrics"),
            ),
        ]),
    ),
    (
        "ContainerMetrics",
        Fields(&[
            ("container_id", Filled("cri/metrics.rs::sandbox_metrics")),
            ("metrics", Filled("cri/metrics.rs::container_metrics")),
        ]),
    ),
    (
        "Metric",
        Fields(&[
            ("name", Filled("cri/metrics.rs::container_metrics")),
            ("timestamp", Filled("cri/metrics.rs::container_metrics")),
            ("metric_type", Filled("cri/metrics.rs::container_metrics")),
            ("label_values", Filled("cri/metrics.rs::container_metrics")),
            ("value", Filled("cri/metrics.rs::container_metrics")),
        ]),
    ),
    // ---- Images ----
    (
        "ImageSpec",
        Fields(&[
            ("image", Read("cri/image.rs::image_name")),
            (
                "annotations",
                Ignored("pulls and image volumes need only the name"),
            ),
            (
                "user_specified_image",
                Ignored(
                    "the name as the pod spec wrote it, informational: Cradle resolves ImageSpec.image",
                ),
            ),
            (
                "runtime_handler",
                Ignored("one image store serves every handler (no RuntimeClassInImageCriApi)"),
            ),
            (
                "image_ref",
                Read("containers/image_volumes.rs::resolve_images"),
            ),
        ]),
    ),
    (
        "ImageFilter",
        Fields(&[("image", Read("cri/image.rs::list_images_impl"))]),
    ),
    (
        "ListImagesRequest",
        Fields(&[("filter", Read("cri/image.rs::list_images_impl"))]),
    ),
    (
        "ListImagesResponse",
        Fields(&[("images", Filled("cri/image.rs::list_images_impl"))]),
    ),
    (
        "Image",
        Fields(&[
            ("id", Filled("cri/image.rs::to_cri")),
            ("repo_tags", Filled("cri/image.rs::to_cri")),
            ("repo_digests", Filled("cri/image.rs::to_cri")),
            ("size", Filled("cri/image.rs::to_cri")),
            ("uid", Filled("cri/image.rs::to_cri")),
            ("username", Filled("cri/image.rs::to_cri")),
            ("spec", Filled("cri/image.rs::to_cri")),
            (
                "pinned",
                Unset(
                    "Cradle has no sandbox (pause) image to keep from the kubelet's image GC: the \
                     shim is the pod's pause process",
                ),
            ),
        ]),
    ),
    (
        "StreamImagesRequest",
        Fields(&[("filter", Read("cri/list_streaming.rs::stream_images_impl"))]),
    ),
    (
        "StreamImagesResponse",
        Fields(&[(
            "images",
            Filled("cri/list_streaming.rs::stream_images_impl"),
        )]),
    ),
    (
        "ImageStatusRequest",
        Fields(&[
            ("image", Read("cri/image.rs::image_status_impl")),
            ("verbose", Read("cri/image.rs::image_status_impl")),
        ]),
    ),
    (
        "ImageStatusResponse",
        Fields(&[
            ("image", Filled("cri/image.rs::image_status_impl")),
            ("info", Filled("cri/image.rs::verbose_info")),
        ]),
    ),
    (
        "PullImageRequest",
        Fields(&[
            ("image", Read("cri/image.rs::pull_image_impl")),
            ("auth", Read("cri/image.rs::pull_image_impl")),
            (
                "sandbox_config",
                Ignored("images are pulled the same way for every pod"),
            ),
        ]),
    ),
    (
        "AuthConfig",
        Fields(&[
            ("username", Read("cri/image.rs::pull_image_impl")),
            ("password", Read("cri/image.rs::pull_image_impl")),
            ("auth", Read("cri/image.rs::pull_image_impl")),
            ("server_address", Read("cri/image.rs::pull_image_impl")),
            ("identity_token", Read("cri/image.rs::pull_image_impl")),
            ("registry_token", Read("cri/image.rs::pull_image_impl")),
        ]),
    ),
    (
        "PullImageResponse",
        Fields(&[("image_ref", Filled("cri/image.rs::pull_image_impl"))]),
    ),
    (
        "RemoveImageRequest",
        Fields(&[("image", Read("cri/image.rs::remove_image_impl"))]),
    ),
    ("RemoveImageResponse", Fields(&[])),
    ("ImageFsInfoRequest", Fields(&[])),
    (
        "ImageFsInfoResponse",
        Fields(&[
            (
                "image_filesystems",
                Filled("cri/image.rs::image_fs_info_impl"),
            ),
            (
                "container_filesystems",
                Filled("cri/image.rs::image_fs_info_impl"),
            ),
        ]),
    ),
    // ---- Windows ----
    ("WindowsPodSandboxConfig", Whole(WINDOWS)),
    ("WindowsSandboxSecurityContext", Whole(WINDOWS)),
    ("WindowsNamespaceOption", Whole(WINDOWS)),
    ("WindowsContainerConfig", Whole(WINDOWS)),
    ("WindowsContainerSecurityContext", Whole(WINDOWS)),
    ("WindowsContainerResources", Whole(WINDOWS)),
    ("WindowsCpuGroupAffinity", Whole(WINDOWS)),
    ("WindowsPodSandboxStats", Whole(WINDOWS_OUT)),
    ("WindowsNetworkUsage", Whole(WINDOWS_OUT)),
    ("WindowsNetworkInterfaceUsage", Whole(WINDOWS_OUT)),
    ("WindowsProcessUsage", Whole(WINDOWS_OUT)),
    ("WindowsContainerStats", Whole(WINDOWS_OUT)),
    ("WindowsCpuUsage", Whole(WINDOWS_OUT)),
    ("WindowsMemoryUsage", Whole(WINDOWS_OUT)),
    ("WindowsFilesystemUsage", Whole(WINDOWS_OUT)),
];

/// One rpc of the .proto: name, request and response message.
struct ProtoRpc {
    name: String,
    request: String,
    response: String,
}

/// A field of the .proto: its name and type (the last path part of a
/// message type; `map<…>` value types count as the type).
struct ProtoField {
    name: String,
    ty: String,
}

/// The .proto's rpcs and its messages' fields (nested messages by their
/// dotted names).
#[derive(Default)]
struct Proto {
    rpcs: Vec<ProtoRpc>,
    messages: BTreeMap<String, Vec<ProtoField>>,
}

/// Splits the .proto text (comments dropped) into words and punctuation.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or_default();
        let mut word = String::new();
        for c in line.chars() {
            if c.is_alphanumeric() || c == '_' || c == '.' {
                word.push(c);
                continue;
            }
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        }
        if !word.is_empty() {
            out.push(word);
        }
    }
    out
}

/// Parses what the checks need of the .proto: services' rpcs, messages and
/// their fields (enums' values and field options are not fields).
fn parse(text: &str) -> Proto {
    let t = tokens(text);
    let mut proto = Proto::default();
    // (kind, name) of each open block.
    let mut open: Vec<(String, String)> = Vec::new();
    let message_name = |open: &[(String, String)]| {
        let names: Vec<&str> = open
            .iter()
            .filter(|(kind, _)| kind == "message")
            .map(|(_, name)| name.as_str())
            .collect();
        names.join(".")
    };
    let mut i = 0;
    while i < t.len() {
        let word = t[i].as_str();
        let block = matches!(word, "message" | "enum" | "service" | "oneof");
        if block && t.get(i + 2).is_some_and(|b| b == "{") {
            open.push((word.to_string(), t[i + 1].clone()));
            if word == "message" {
                proto.messages.entry(message_name(&open)).or_default();
            }
            i += 3;
            continue;
        }
        match word {
            // An option block or an rpc's `{}`.
            "{" => open.push(("other".to_string(), String::new())),
            "}" => {
                open.pop();
            }
            // Field options (`[deprecated=true]`) hold no field.
            "[" => {
                i += t[i..].iter().position(|w| w == "]").unwrap_or(0);
            }
            "rpc" => {
                let after = |from: usize| {
                    t[from..]
                        .iter()
                        .find(|w| *w != "(" && *w != "stream")
                        .cloned()
                        .unwrap_or_default()
                };
                let returns = t[i..].iter().position(|w| w == "returns").unwrap_or(0) + i;
                proto.rpcs.push(ProtoRpc {
                    name: t[i + 1].clone(),
                    request: after(i + 2),
                    response: after(returns + 1),
                });
            }
            _ if t.get(i + 1).is_some_and(|e| e == "=")
                && open
                    .last()
                    .is_some_and(|(kind, _)| kind == "message" || kind == "oneof") =>
            {
                // The type is the word before the name (`>` closes a map).
                let ty = if t[i - 1] == ">" {
                    &t[i - 2]
                } else {
                    &t[i - 1]
                };
                let ty = ty.rsplit('.').next().unwrap_or_default().to_string();
                proto
                    .messages
                    .entry(message_name(&open))
                    .or_default()
                    .push(ProtoField {
                        name: word.to_string(),
                        ty,
                    });
            }
            _ => {}
        }
        i += 1;
    }
    proto
}

fn proto_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cri/runtime/v1/api.proto")
}

fn daemon_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime-daemon/src")
}

fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cri-fields.md")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The messages reachable from `roots` through message-typed fields.
fn reachable(proto: &Proto, roots: impl Iterator<Item = String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = roots.collect();
    while let Some(name) = todo.pop() {
        if !proto.messages.contains_key(&name) || !seen.insert(name.clone()) {
            continue;
        }
        for field in &proto.messages[&name] {
            todo.push(field.ty.clone());
        }
    }
    seen
}

/// Problems with a `file.rs::function` reference: the file must exist
/// under `runtime-daemon/src` and define the function.
fn check_reference(reference: &str, what: &str, problems: &mut Vec<String>) {
    let Some((file, function)) = reference.split_once("::") else {
        problems.push(format!("{what}: {reference:?} is not file.rs::function"));
        return;
    };
    let path = daemon_src().join(file);
    let Ok(text) = std::fs::read_to_string(&path) else {
        problems.push(format!("{what}: no file runtime-daemon/src/{file}"));
        return;
    };
    let defines = text
        .match_indices(&format!("fn {function}"))
        .any(|(at, m)| {
            text[at + m.len()..]
                .chars()
                .next()
                .is_some_and(|c| c == '(' || c == '<')
        });
    if !defines {
        problems.push(format!(
            "{what}: runtime-daemon/src/{file} has no fn {function}"
        ));
    }
}

#[test]
fn every_rpc_is_served_or_refused_on_purpose() {
    let proto = parse(&read(&proto_path()));
    let mut problems = Vec::new();
    let listed: BTreeSet<&str> = RPCS.iter().map(|(name, _)| *name).collect();
    let actual: BTreeSet<&str> = proto.rpcs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(actual.len(), 41, "the .proto's rpcs were not all found");
    for rpc in actual.difference(&listed) {
        problems.push(format!("rpc {rpc}: new in the .proto, not in RPCS"));
    }
    for rpc in listed.difference(&actual) {
        problems.push(format!("rpc {rpc}: in RPCS, not in the .proto"));
    }
    let services = read(&daemon_src().join("cri/runtime_service.rs"))
        + &read(&daemon_src().join("cri/image_service.rs"));
    for (name, rpc) in RPCS {
        match rpc {
            Served(reference) => check_reference(reference, &format!("rpc {name}"), &mut problems),
            Unimplemented(_) => {
                if !services.contains(&format!("unimplemented(\"{name}\")")) {
                    problems.push(format!(
                        "rpc {name}: said to answer Unimplemented, but the services do not"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_field_of_every_message_is_accounted_for() {
    let proto = parse(&read(&proto_path()));
    assert!(
        proto.messages.len() > 150,
        "the .proto's messages were not all found: {}",
        proto.messages.len()
    );
    let requests = reachable(&proto, proto.rpcs.iter().map(|r| r.request.clone()));
    let responses = reachable(&proto, proto.rpcs.iter().map(|r| r.response.clone()));
    let mut problems = Vec::new();
    let listed: BTreeSet<&str> = TABLE.iter().map(|(m, _)| *m).collect();
    for message in proto.messages.keys() {
        if !listed.contains(message.as_str()) {
            problems.push(format!(
                "message {message}: new in the .proto, not in the table"
            ));
        }
    }
    for (message, rule) in TABLE {
        let Some(fields) = proto.messages.get(*message) else {
            problems.push(format!(
                "message {message}: in the table, not in the .proto"
            ));
            continue;
        };
        if !requests.contains(*message) && !responses.contains(*message) {
            problems.push(format!("message {message}: used by no rpc"));
        }
        let uses: Vec<(&str, Use)> = match rule {
            Whole(rule) => fields.iter().map(|f| (f.name.as_str(), *rule)).collect(),
            Fields(listed) => {
                let listed_names: BTreeSet<&str> = listed.iter().map(|(f, _)| *f).collect();
                let actual: BTreeSet<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                for field in actual.difference(&listed_names) {
                    problems.push(format!(
                        "{message}.{field}: new in the .proto, not in the table"
                    ));
                }
                for field in listed_names.difference(&actual) {
                    problems.push(format!(
                        "{message}.{field}: in the table, not in the .proto"
                    ));
                }
                listed.to_vec()
            }
        };
        // A request's field is read or ignored; a response's is
        // filled or left unset. A message on both sides may be either.
        for (field, rule) in uses {
            let what = format!("{message}.{field}");
            match rule {
                Read(reference) | Filled(reference) => {
                    check_reference(reference, &what, &mut problems)
                }
                Ignored(_) | Unset(_) => {}
            }
            let inbound = matches!(rule, Read(_) | Ignored(_));
            if inbound && !requests.contains(*message) {
                problems.push(format!(
                    "{what}: only responses carry it, it cannot be read"
                ));
            }
            if !inbound && !responses.contains(*message) {
                problems.push(format!(
                    "{what}: only requests carry it, it cannot be filled"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Picks the reason of the uses one section of the doc lists.
type Pick = fn(&Use) -> Option<&'static str>;

/// `docs/cri-fields.md`, from the tables.
fn render() -> String {
    let mut out = String::from(
        "# The CRI, field by field\n\n\
         What Cradle does with every rpc and every field of the CRI v1 definition it\n\
         serves (`proto/cri/runtime/v1/api.proto`, cri-api v0.36.3). Generated from the\n\
         tables of `proto/tests/cri_fields.rs`, which fail when the .proto gains a field\n\
         nobody classified or when this file no longer matches them; rewrite it with\n\
         `CRADLE_BLESS=1 cargo test -p cradle-proto --test cri_fields`.\n\n\
         Windows-only messages and fields are left out below: Cradle runs Linux\n\
         containers and ignores them.\n",
    );
    out.push_str(
        "\n## Newer than these bindings\n\n\
         cri-api v0.37.0-beta.0 (Kubernetes 1.37) differs from v0.36.3 only in the\n\
         names of `Signal`'s values (prefixed `SIGNAL_`): the numbers, the wire and the\n\
         Rust names prost generates are the same. Upstream's development branch after\n\
         it adds `Mount.mount_options` (11), `RuntimeFeatures.mount_options` (3) and the\n\
         `CheckpointPod` and `RestorePod` rpcs, not in a cri-api release yet and not in\n\
         these bindings: `RuntimeFeatures.mount_options` is how a runtime tells the\n\
         kubelet it applies mount options, and Cradle's `Status` cannot set it (to the\n\
         kubelet, an absent field reads false); an rpc the server does not know\n\
         answers `Unimplemented`.\n",
    );
    out.push_str("\n## Rpcs answered `Unimplemented`\n\n| rpc | why |\n|---|---|\n");
    for (name, rpc) in RPCS {
        if let Unimplemented(why) = rpc {
            out.push_str(&format!("| {name} | {why} |\n"));
        }
    }
    let sections: [(&str, Pick); 2] = [
        ("Request fields ignored on purpose", |u| match u {
            Ignored(why) if *why != WINDOWS_ONLY => Some(why),
            _ => None,
        }),
        ("Response fields left unset on purpose", |u| match u {
            Unset(why) if *why != WINDOWS_ONLY => Some(why),
            _ => None,
        }),
    ];
    for (title, pick) in sections {
        out.push_str(&format!("\n## {title}\n\n| field | why |\n|---|---|\n"));
        for (message, rule) in TABLE {
            match rule {
                Whole(rule) => {
                    if let Some(why) = pick(rule) {
                        out.push_str(&format!("| {message} (every field) | {why} |\n"));
                    }
                }
                Fields(fields) => {
                    for (field, rule) in *fields {
                        if let Some(why) = pick(rule) {
                            out.push_str(&format!("| {message}.{field} | {why} |\n"));
                        }
                    }
                }
            }
        }
    }
    out.push_str(
        "\n## Fields read and filled\n\n\
         Where the daemon acts on each field (`runtime-daemon/src/<file>::<function>`).\n\n\
         | field | read by / filled by |\n|---|---|\n",
    );
    for (message, rule) in TABLE {
        if let Fields(fields) = rule {
            for (field, rule) in *fields {
                match rule {
                    Read(at) => out.push_str(&format!("| {message}.{field} | read: `{at}` |\n")),
                    Filled(at) => {
                        out.push_str(&format!("| {message}.{field} | filled: `{at}` |\n"))
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

#[test]
fn the_doc_says_what_the_table_says() {
    let rendered = render();
    if std::env::var_os("CRADLE_BLESS").is_some() {
        std::fs::write(doc_path(), &rendered).unwrap();
        return;
    }
    let written = std::fs::read_to_string(doc_path()).unwrap_or_default();
    assert!(
        written == rendered,
        "docs/cri-fields.md is not what the table says: rewrite it with \
         CRADLE_BLESS=1 cargo test -p cradle-proto --test cri_fields"
    );
}

#[test]
fn the_parser_finds_fields_maps_and_one_line_messages() {
    let proto = parse(
        "service S {\n  rpc A(AReq) returns (stream AResp) {}\n}\n\
         message AReq {}\nmessage AResp {\n  map<string, string> labels = 1; // x = 2\n\
         repeated B items = 2 [deprecated=true];\n  enum E { X = 0; }\n  message N { int32 n = 1; }\n}\n",
    );
    assert_eq!(proto.rpcs.len(), 1);
    assert_eq!(
        (
            proto.rpcs[0].request.as_str(),
            proto.rpcs[0].response.as_str()
        ),
        ("AReq", "AResp")
    );
    let names = |m: &str| -> Vec<(String, String)> {
        proto.messages[m]
            .iter()
            .map(|f| (f.name.clone(), f.ty.clone()))
            .collect()
    };
    assert!(proto.messages["AReq"].is_empty());
    assert_eq!(
        names("AResp"),
        [
            ("labels".to_string(), "string".to_string()),
            ("items".to_string(), "B".to_string())
        ]
    );
    assert_eq!(names("AResp.N"), [("n".to_string(), "int32".to_string())]);
}
