//! The types read what the oci-spec crate writes and what `runc spec`
//! generates, and a malformed value is an error that says what is wrong.

use std::path::Path;

use caps::Capability as Cap;
use serde_json::json;

use super::*;

/// A config with every field cradle-oci reads set, put through the
/// oci-spec crate (which drops what it does not know, so a key misspelt
/// here would fail the checks below) and written back by it.
fn written_by_oci_spec() -> String {
    let config = json!({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "box",
        "annotations": {"a": "b"},
        "process": {
            "terminal": true,
            "consoleSize": {"height": 24, "width": 80},
            "user": {"uid": 1000, "gid": 1001, "umask": 18, "additionalGids": [5, 6]},
            "args": ["sh", "-c", "true"],
            "env": ["PATH=/bin"],
            "cwd": "/work",
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_SYS_ADMIN"],
                "effective": ["CAP_CHOWN"],
                "inheritable": [],
                "permitted": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_KILL"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024}],
            "noNewPrivileges": true,
            "oomScoreAdj": -500
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind", "idmap"],
             "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
             "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}]}
        ],
        "hooks": {
            "prestart": [{"path": "/bin/p"}],
            "createRuntime": [{"path": "/bin/cr", "args": ["cr", "x"], "env": ["A=1"], "timeout": 5}],
            "createContainer": [{"path": "/bin/cc"}],
            "startContainer": [{"path": "/bin/sc"}],
            "poststart": [{"path": "/bin/ps"}],
            "poststop": [{"path": "/bin/pt"}]
        },
        "linux": {
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 1001, "size": 2}],
            "sysctl": {"net.ipv4.ip_forward": "1"},
            "cgroupsPath": "/kubepods/c1",
            "namespaces": [{"type": "mount"}, {"type": "network", "path": "/proc/1/ns/net"},
                           {"type": "user"}, {"type": "time"}],
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                         "fileMode": 438, "uid": 0, "gid": 0}],
            "rootfsPropagation": "rslave",
            "maskedPaths": ["/proc/kcore"],
            "readonlyPaths": ["/proc/sys"],
            "timeOffsets": {"monotonic": {"secs": 10, "nanosecs": 5}},
            "seccomp": {
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                "listenerPath": "/run/l.sock",
                "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "errnoRet": 2,
                              "args": [{"index": 0, "value": 7, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"}]}]
            },
            "resources": {
                "devices": [{"allow": false, "access": "rwm"},
                            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
                "memory": {"limit": 1000, "reservation": 500, "swap": 2000, "kernel": 1, "kernelTCP": 2,
                           "swappiness": 10, "disableOOMKiller": true, "useHierarchy": true,
                           "checkBeforeUpdate": true},
                "cpu": {"shares": 512, "quota": 50000, "idle": 1, "burst": 10, "period": 100000,
                        "realtimeRuntime": 3, "realtimePeriod": 4, "cpus": "0-1", "mems": "0"},
                "pids": {"limit": 64},
                "blockIO": {"weight": 100, "leafWeight": 50,
                            "weightDevice": [{"major": 8, "minor": 0, "weight": 200, "leafWeight": 20}],
                            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}],
                            "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2}],
                            "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 3}],
                            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 4}]},
                "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
                "network": {"classID": 7, "priorities": [{"name": "eth0", "priority": 3}]},
                "rdma": {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 100}},
                "unified": {"memory.high": "900"}
            }
        }
    });
    let spec: oci_spec::runtime::Spec = serde_json::from_value(config).unwrap();
    serde_json::to_string(&spec).unwrap()
}

#[test]
fn a_config_written_by_oci_spec_reads_the_same() {
    let s: Spec = serde_json::from_str(&written_by_oci_spec()).unwrap();
    let root = s.root.as_ref().unwrap();
    assert_eq!(root.path, Path::new("rootfs"));
    assert_eq!(root.readonly, Some(true));
    assert_eq!(s.hostname.as_deref(), Some("box"));
    assert_eq!(s.annotations.as_ref().unwrap()["a"], "b");

    let p = s.process.as_ref().unwrap();
    assert_eq!(p.terminal, Some(true));
    let size = p.console_size.unwrap();
    assert_eq!((size.height, size.width), (24, 80));
    assert_eq!(
        (p.user.uid, p.user.gid, p.user.umask),
        (1000, 1001, Some(18))
    );
    assert_eq!(p.user.additional_gids.as_deref(), Some(&[5, 6][..]));
    assert_eq!(p.args.as_ref().unwrap()[2], "true");
    assert_eq!(p.env.as_deref(), Some(&["PATH=/bin".to_string()][..]));
    assert_eq!(p.cwd, Path::new("/work"));
    let c = p.capabilities.as_ref().unwrap();
    assert_eq!(
        c.bounding.clone().unwrap(),
        [Cap::CAP_CHOWN, Cap::CAP_SYS_ADMIN].into()
    );
    assert_eq!(c.effective.clone().unwrap(), [Cap::CAP_CHOWN].into());
    assert!(c.inheritable.as_ref().unwrap().is_empty());
    assert!(
        c.permitted
            .as_ref()
            .unwrap()
            .contains(&Cap::CAP_NET_BIND_SERVICE)
    );
    assert_eq!(c.ambient.clone().unwrap(), [Cap::CAP_KILL].into());
    let r = p.rlimits.as_ref().unwrap()[0];
    assert_eq!(
        (r.typ, r.hard, r.soft),
        (PosixRlimitType::RlimitNofile, 4096, 1024)
    );
    assert_eq!(p.no_new_privileges, Some(true));
    assert_eq!(p.oom_score_adj, Some(-500));

    let m = &s.mounts.as_ref().unwrap()[1];
    assert_eq!(m.destination, Path::new("/data"));
    assert_eq!(m.typ.as_deref(), Some("bind"));
    assert_eq!(m.source.as_deref(), Some(Path::new("/srv")));
    assert_eq!(m.options.as_ref().unwrap()[1], "idmap");
    assert_eq!(m.uid_mappings.as_ref().unwrap()[0].host_id, 100000);
    assert_eq!(m.gid_mappings.as_ref().unwrap()[0].host_id, 200000);

    let h = s.hooks.as_ref().unwrap();
    let cr = &h.create_runtime.as_ref().unwrap()[0];
    assert_eq!(cr.path, Path::new("/bin/cr"));
    assert_eq!(cr.args.as_ref().unwrap()[1], "x");
    assert_eq!(cr.env.as_ref().unwrap()[0], "A=1");
    assert_eq!(cr.timeout, Some(5));
    for (list, path) in [
        (&h.prestart, "/bin/p"),
        (&h.create_container, "/bin/cc"),
        (&h.start_container, "/bin/sc"),
        (&h.poststart, "/bin/ps"),
        (&h.poststop, "/bin/pt"),
    ] {
        assert_eq!(list.as_ref().unwrap()[0].path, Path::new(path));
    }

    let l = s.linux.as_ref().unwrap();
    assert_eq!(
        l.uid_mappings.as_ref().unwrap()[0],
        LinuxIdMapping {
            container_id: 0,
            host_id: 1000,
            size: 1
        }
    );
    assert_eq!(l.gid_mappings.as_ref().unwrap()[0].size, 2);
    assert_eq!(l.sysctl.as_ref().unwrap()["net.ipv4.ip_forward"], "1");
    assert_eq!(l.cgroups_path.as_deref(), Some(Path::new("/kubepods/c1")));
    let ns = l.namespaces.as_ref().unwrap();
    let types: Vec<_> = ns.iter().map(|n| n.typ).collect();
    assert_eq!(
        types,
        [
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::User,
            LinuxNamespaceType::Time
        ]
    );
    assert_eq!(ns[1].path.as_deref(), Some(Path::new("/proc/1/ns/net")));
    let d = &l.devices.as_ref().unwrap()[0];
    assert_eq!(
        (d.typ, d.major, d.minor, d.file_mode, d.uid, d.gid),
        (LinuxDeviceType::C, 10, 229, Some(438), Some(0), Some(0))
    );
    assert_eq!(d.path, Path::new("/dev/fuse"));
    assert_eq!(l.rootfs_propagation.as_deref(), Some("rslave"));
    assert_eq!(l.masked_paths.as_ref().unwrap()[0], "/proc/kcore");
    assert_eq!(l.readonly_paths.as_ref().unwrap()[0], "/proc/sys");
    let t = l.time_offsets.as_ref().unwrap()["monotonic"];
    assert_eq!((t.secs, t.nanosecs), (Some(10), Some(5)));

    let sc = l.seccomp.as_ref().unwrap();
    assert_eq!(sc.default_action, LinuxSeccompAction::ScmpActErrno);
    assert_eq!(sc.default_errno_ret, Some(1));
    assert_eq!(
        sc.flags.as_deref(),
        Some(&[LinuxSeccompFilterFlag::SeccompFilterFlagLog][..])
    );
    assert_eq!(sc.listener_path.as_deref(), Some(Path::new("/run/l.sock")));
    let rule = &sc.syscalls.as_ref().unwrap()[0];
    assert_eq!(rule.names, ["clone"]);
    assert_eq!(
        (rule.action, rule.errno_ret),
        (LinuxSeccompAction::ScmpActAllow, Some(2))
    );
    let a = rule.args.as_ref().unwrap()[0];
    assert_eq!(
        (a.index, a.value, a.value_two, a.op),
        (0, 7, Some(3), LinuxSeccompOperator::ScmpCmpMaskedEq)
    );

    let res = l.resources.as_ref().unwrap();
    let dev = res.devices.as_ref().unwrap();
    assert!(!dev[0].allow && dev[0].typ.is_none() && dev[0].major.is_none());
    assert_eq!(
        (
            dev[1].typ,
            dev[1].major,
            dev[1].minor,
            dev[1].access.as_deref()
        ),
        (Some(LinuxDeviceType::C), Some(1), Some(3), Some("rw"))
    );
    let mem = res.memory.unwrap();
    assert_eq!(
        (
            mem.limit,
            mem.reservation,
            mem.swap,
            mem.kernel,
            mem.kernel_tcp
        ),
        (Some(1000), Some(500), Some(2000), Some(1), Some(2))
    );
    assert_eq!(mem.swappiness, Some(10));
    assert_eq!(
        (
            mem.disable_oom_killer,
            mem.use_hierarchy,
            mem.check_before_update
        ),
        (Some(true), Some(true), Some(true))
    );
    let cpu = res.cpu.as_ref().unwrap();
    assert_eq!(
        (cpu.shares, cpu.quota, cpu.idle, cpu.burst, cpu.period),
        (Some(512), Some(50000), Some(1), Some(10), Some(100000))
    );
    assert_eq!(
        (cpu.realtime_runtime, cpu.realtime_period),
        (Some(3), Some(4))
    );
    assert_eq!(
        (cpu.cpus.as_deref(), cpu.mems.as_deref()),
        (Some("0-1"), Some("0"))
    );
    assert_eq!(res.pids.unwrap().limit, 64);
    let b = res.block_io.as_ref().unwrap();
    assert_eq!((b.weight, b.leaf_weight), (Some(100), Some(50)));
    let w = b.weight_device.as_ref().unwrap()[0];
    assert_eq!(
        (w.major, w.minor, w.weight, w.leaf_weight),
        (8, 0, Some(200), Some(20))
    );
    let rate = |v: &Option<Vec<LinuxThrottleDevice>>| v.as_ref().unwrap()[0].rate;
    assert_eq!(
        [
            rate(&b.throttle_read_bps_device),
            rate(&b.throttle_write_bps_device),
            rate(&b.throttle_read_iops_device),
            rate(&b.throttle_write_iops_device)
        ],
        [1, 2, 3, 4]
    );
    let hp = &res.hugepage_limits.as_ref().unwrap()[0];
    assert_eq!((hp.page_size.as_str(), hp.limit), ("2MB", 4194304));
    let net = res.network.as_ref().unwrap();
    assert_eq!(net.class_id, Some(7));
    let prio = &net.priorities.as_ref().unwrap()[0];
    assert_eq!((prio.name.as_str(), prio.priority), ("eth0", 3));
    let rdma = res.rdma.as_ref().unwrap()["mlx5_0"];
    assert_eq!((rdma.hca_handles, rdma.hca_objects), (Some(3), Some(100)));
    assert_eq!(res.unified.as_ref().unwrap()["memory.high"], "900");
}

#[test]
fn runc_spec_default_config_parses() {
    let runc = Path::new("/usr/sbin/runc");
    if !runc.exists() {
        cradle_testkit::skip(format!("no {}", runc.display()));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(runc)
        .arg("spec")
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let data = std::fs::read(dir.path().join("config.json")).unwrap();
    let s: Spec = serde_json::from_slice(&data).unwrap();
    let p = s.process.unwrap();
    assert_eq!(p.args.unwrap(), ["sh"]);
    assert!(
        p.capabilities
            .unwrap()
            .bounding
            .unwrap()
            .contains(&Cap::CAP_KILL)
    );
    let l = s.linux.unwrap();
    assert!(
        l.namespaces
            .unwrap()
            .iter()
            .any(|n| n.typ == LinuxNamespaceType::Mount)
    );
    assert!(!l.masked_paths.unwrap().is_empty());
    assert_eq!(s.root.unwrap().path, Path::new("rootfs"));
}

#[test]
fn malformed_values_are_errors_that_say_what_is_wrong() {
    let e = serde_json::from_str::<Spec>(r#"{"linux": {"namespaces": [{"type": "bogus"}]}}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown variant `bogus`"), "{e}");
    let e = serde_json::from_str::<Spec>(r#"{"process": {"user": {}, "args": ["sh"]}}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing field `cwd`"), "{e}");
    let e = serde_json::from_str::<Process>(
        r#"{"user": {}, "cwd": "/", "capabilities": {"bounding": ["CAP_FLY"]}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown capability \"CAP_FLY\""), "{e}");
}

#[test]
fn capability_names_read_like_oci_spec_read_them() {
    for name in [
        "CAP_SYS_ADMIN",
        "SYS_ADMIN",
        "cap_sys_admin",
        "CAP_CAP_SYS_ADMIN",
    ] {
        assert_eq!(
            process::parse_capability(name),
            Ok(Cap::CAP_SYS_ADMIN),
            "{name}"
        );
    }
    assert!(process::parse_capability("CAP_").is_err());
}

#[test]
fn namespace_types_print_as_the_kernel_names_them() {
    let t: Vec<LinuxNamespaceType> =
        serde_json::from_str(r#"["mount", "network", "cgroup"]"#).unwrap();
    let names: Vec<String> = t.iter().map(|t| t.to_string()).collect();
    assert_eq!(names, ["mnt", "net", "cgroup"]);
}
