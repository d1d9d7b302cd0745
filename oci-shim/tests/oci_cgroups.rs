//! Root integration tests of `linux.resources` on this host's cgroup v1
//! hierarchy, read back from inside the container through its cgroup
//! mount; and of the fields the host cannot apply, which must fail
//! `create` naming the field and leave nothing behind.

mod oci_harness;

use oci_harness::*;
use serde_json::{Value, json};

fn with_resources(b: &Bundle, extra: Value) {
    let mut cfg = b.config();
    let res = cfg["linux"]["resources"].as_object_mut().unwrap();
    for (k, v) in extra.as_object().unwrap() {
        res.insert(k.clone(), v.clone());
    }
    b.write_config(cfg);
}

/// The major:minor of the disk holding `/`, for throttle rules.
fn root_disk() -> String {
    let dev = nix::sys::stat::stat("/").unwrap().st_dev;
    // Throttling applies to whole disks; partitions are refused.
    let (maj, min) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let node = std::fs::canonicalize(format!("/sys/dev/block/{maj}:{min}")).unwrap();
    if node.join("partition").exists() {
        let disk = node.parent().unwrap().join("dev");
        return std::fs::read_to_string(disk).unwrap().trim().to_string();
    }
    format!("{maj}:{min}")
}

#[test]
fn memory_cpu_pids_and_blkio_limits_are_seen_from_inside() {
    if !is_root() || !std::path::Path::new("/sys/fs/cgroup/blkio").exists() {
        eprintln!("cgroup v1 limits test: skipped, needs root on a cgroup v1 host");
        return;
    }
    become_subreaper();
    let disk = root_disk();
    let cg = "/sys/fs/cgroup";
    let script = format!(
        "cat {cg}/memory/memory.swappiness {cg}/memory/memory.soft_limit_in_bytes; \
         grep oom_kill_disable {cg}/memory/memory.oom_control; \
         cat {cg}/pids/pids.max {cg}/blkio/blkio.throttle.read_bps_device \
             {cg}/blkio/blkio.throttle.write_iops_device; \
         cat {cg}/blkio/blkio.bfq.weight 2>/dev/null || cat {cg}/blkio/blkio.weight; \
         cat {cg}/cpu/cpu.cfs_quota_us {cg}/cpu/cpu.cfs_burst_us {cg}/cpu/cpu.idle"
    );
    let b = Bundle::new("cg-limits", &["sh", "-c", &script]);
    let (maj, min) = disk.split_once(':').unwrap();
    let (maj, min): (i64, i64) = (maj.parse().unwrap(), min.parse().unwrap());
    with_resources(
        &b,
        json!({
            "memory": {"limit": 134217728, "reservation": 67108864, "swappiness": 30, "disableOOMKiller": true},
            "pids": {"limit": 50},
            "cpu": {"quota": 50000, "period": 100000, "burst": 10000, "idle": 1},
            "blockIO": {
                "weight": 500,
                "throttleReadBpsDevice": [{"major": maj, "minor": min, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": maj, "minor": min, "rate": 200}]
            }
        }),
    );
    let pid = b.create_ok();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0);
    let got = b.container_stdout();
    assert_eq!(
        got.lines().collect::<Vec<_>>(),
        [
            "30".to_string(),
            "67108864".into(),
            "oom_kill_disable 1".into(),
            "50".into(),
            format!("{disk} 1048576"),
            format!("{disk} 200"),
            "500".into(),
            "50000".into(),
            "10000".into(),
            "1".into(),
        ],
        "{got}"
    );
    assert!(b.oci(&["delete", &b.id]).status.success());
}

#[test]
fn fields_the_host_cannot_apply_fail_create_naming_them() {
    if !is_root() || !std::path::Path::new("/sys/fs/cgroup/blkio").exists() {
        return;
    }
    let cases = [
        (
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]}),
            "resources.hugepageLimits",
        ),
        (
            json!({"rdma": {"mlx5_0": {"hcaHandles": 2}}}),
            "resources.rdma",
        ),
        (
            json!({"memory": {"swappiness": 200}}),
            "resources.memory.swappiness",
        ),
        (
            json!({"unified": {"memory.high": "1M"}}),
            "resources.unified",
        ),
    ];
    for (i, (res, want)) in cases.into_iter().enumerate() {
        // Only assert on fields this host really lacks.
        if want.contains("hugepage") && std::path::Path::new("/sys/fs/cgroup/hugetlb").exists() {
            continue;
        }
        if want.contains("rdma") && std::path::Path::new("/sys/fs/cgroup/rdma").exists() {
            continue;
        }
        let b = Bundle::new(&format!("cg-refused{i}"), &["true"]);
        with_resources(&b, res);
        let out = b.create();
        assert!(!out.status.success(), "{want} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{want}: {err}");
        assert!(!b.root.join(&b.id).exists(), "{want}: state left behind");
        for d in b.cgroup_dirs() {
            assert!(!d.exists(), "{want}: {} left behind", d.display());
        }
    }
}

/// A cgroup2 directory made for the test, removed on drop.
struct V2Dir(std::path::PathBuf);
impl Drop for V2Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn v2_device_rules_load_an_ebpf_filter_the_kernel_enforces() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    // Any cgroup2 mount will do: the hybrid host's `unified` one carries
    // no controllers, but device programs need none.
    let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .map(std::path::Path::new)
        .find(|p| {
            nix::sys::statfs::statfs(*p)
                .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        });
    let Some(root) = root else {
        eprintln!("eBPF device test: skipped, no cgroup2 mount");
        return;
    };
    if !is_root() {
        return;
    }
    let name = format!("cradle-test-devbpf-{}", std::process::id());
    let dir = V2Dir(root.join(&name));
    std::fs::create_dir(&dir.0).unwrap();
    let cg = cradle_shim::cgroups::Cgroup::with_hierarchy(
        &format!("/{name}"),
        cradle_shim::cgroups::Hierarchy::V2 {
            root: root.to_path_buf(),
        },
    )
    .unwrap();
    let rules = |v: Value| -> cradle_shim::spec::LinuxResources {
        serde_json::from_value(json!({ "devices": v })).unwrap()
    };
    let probe = "read x; (: </dev/null) 2>/dev/null && echo null-ok; \
                 (: </dev/zero) 2>/dev/null || echo zero-denied; \
                 (: </dev/full) 2>/dev/null && echo full-ok";
    let run = |cg: &cradle_shim::cgroups::Cgroup| -> String {
        let mut child = Command::new("sh")
            .args(["-c", probe])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        cg.add_process(child.id() as i32).unwrap();
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    cg.apply(&rules(json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"}
    ])))
    .unwrap();
    assert_eq!(run(&cg), "null-ok\nzero-denied\nfull-ok\n");
    // An update replaces the program instead of stacking on it (stacked
    // programs must all allow: /dev/zero would stay denied).
    cg.apply(&rules(json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"}
    ])))
    .unwrap();
    assert_eq!(run(&cg), "null-ok\n", "zero allowed, full denied");
}
