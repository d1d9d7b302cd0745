//! `cradle-oci spec`: writes a starting `config.json` into a bundle, as
//! `runc spec` does: `sh` in a `rootfs` directory, runc's default
//! capabilities, mounts, masked and read-only paths and namespaces. With
//! `--rootless`, as runc's: a user namespace mapping root to the caller, no
//! network namespace (an unprivileged user cannot configure one), `/sys`
//! bound from the host and no cgroup settings.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use crate::oci::error::{OciError, Result};

/// The config `spec` writes.
pub fn template(rootless: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ];
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    let mut linux = json!({
        "resources": {"devices": [{"allow": false, "access": "rwm"}]},
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
            "/proc/sysrq-trigger"]
    });
    if rootless {
        mounts.retain(|m| m["destination"] != "/sys/fs/cgroup");
        for m in &mut mounts {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            }
            if m["destination"] == "/dev/pts" {
                // gid=5 (tty) is not mapped in a user namespace of one id.
                m["options"] = json!([
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620"
                ]);
            }
        }
        namespaces.retain(|n| n["type"] != "network");
        namespaces.push(json!({"type": "user"}));
        let map = |id: u32| json!([{"containerID": 0, "hostID": id, "size": 1}]);
        linux["uidMappings"] = map(nix::unistd::geteuid().as_raw());
        linux["gidMappings"] = map(nix::unistd::getegid().as_raw());
        if let Some(o) = linux.as_object_mut() {
            o.remove("resources");
        }
    }
    linux["namespaces"] = Value::Array(namespaces);
    json!({
        "ociVersion": crate::oci::verbs::features::OCI_VERSION_MAX,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "cradle",
        "mounts": mounts,
        "linux": linux
    })
}

/// Writes `<bundle>/config.json`; an existing one is never overwritten.
pub fn write(bundle: &Path, rootless: bool) -> Result<()> {
    let path = bundle.join("config.json");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                OciError::Unsupported(format!("{} exists: remove it first", path.display()))
            }
            _ => OciError::io("create", &path, e),
        })?;
    let text = serde_json::to_string_pretty(&template(rootless)).map_err(|e| OciError::Spec {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .map_err(|e| OciError::io("write", &path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_as_a_spec_and_rootless_maps_the_caller() {
        let spec: crate::spec::Spec = serde_json::from_value(template(false)).unwrap();
        let linux = spec.linux.unwrap();
        assert_eq!(linux.namespaces.unwrap().len(), 6);
        assert_eq!(spec.process.unwrap().args.unwrap(), ["sh"]);
        let rootless = template(true);
        let spec: crate::spec::Spec = serde_json::from_value(rootless.clone()).unwrap();
        let ns = spec.linux.unwrap().namespaces.unwrap();
        assert!(
            ns.iter()
                .any(|n| n.typ == crate::spec::LinuxNamespaceType::User)
        );
        assert!(
            !ns.iter()
                .any(|n| n.typ == crate::spec::LinuxNamespaceType::Network)
        );
        assert_eq!(
            rootless["linux"]["uidMappings"][0]["hostID"],
            nix::unistd::geteuid().as_raw()
        );
    }
}
