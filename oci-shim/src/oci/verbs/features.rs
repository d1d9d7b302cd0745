//! `cradle-oci features`: the OCI features document of what this runtime
//! actually implements (not what the spec allows).

use serde_json::{Value, json};

/// The newest runtime-spec version whose config.json this runtime reads.
pub const OCI_VERSION_MAX: &str = "1.2.0";

/// Mount options understood by the mount code.
const MOUNT_OPTIONS: [&str; 32] = [
    "async",
    "atime",
    "bind",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "tmpcopyup",
];

/// Options the mount code knows on every kernel, plus (where the kernel
/// has mount_setattr) the recursive ones and `idmap`/`ridmap`.
fn mount_options(new_api: bool) -> Vec<&'static str> {
    let mut all: Vec<&str> = MOUNT_OPTIONS.to_vec();
    if new_api {
        all.extend(crate::oci::rootfs::mounts::RECURSIVE_OPTIONS);
        all.extend(["idmap", "ridmap"]);
    }
    all.sort_unstable();
    all
}

/// The features JSON.
pub fn features() -> Value {
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    let new_api = crate::oci::rootfs::mountapi::supported();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options(new_api),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": true },
            "seccomp": {
                "enabled": !crate::oci::security::seccomp::supported_arches().is_empty(),
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": crate::oci::security::seccomp::supported_arches(),
                "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": new_api } }
        },
        "annotations": {}
    })
}
