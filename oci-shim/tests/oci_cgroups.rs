//! Root integration tests of `linux.resources` on this host's cgroup v1
//! hierarchy, read back from inside the container through its cgroup
//! mount; and of the fields the host cannot apply, which must fail
//! `create` naming the field and leave nothing behind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

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

/// A limit the host may or may not have a file for: the resource it sets,
/// the file that shows it from inside, and what that file must then say.
struct Optional {
    files: &'static [&'static str],
    resource: (&'static str, &'static str, Value),
    want: fn(&str) -> String,
}

#[test]
fn memory_cpu_pids_and_blkio_limits_are_seen_from_inside() {
    let cg = "/sys/fs/cgroup";
    let v1 = ["memory", "pids", "cpu"].iter().all(|c| {
        std::path::Path::new(cg)
            .join(c)
            .join("cgroup.procs")
            .exists()
    });
    if !is_root() {
        return;
    }
    if !v1 {
        // A host capability, not a missing install step: nothing to skip.
        eprintln!("not a cgroup v1 host: the v1 limit files do not exist here");
        return;
    }
    become_subreaper();
    let disk = root_disk();
    let (maj, min) = disk.split_once(':').unwrap();
    let (maj, min): (i64, i64) = (maj.parse().unwrap(), min.parse().unwrap());
    let mut res = json!({
        "memory": {"limit": 134217728, "reservation": 67108864, "disableOOMKiller": true},
        "pids": {"limit": 50},
        "cpu": {"quota": 50000, "period": 100000},
        "blockIO": {}
    });
    let mut script = vec![
        format!("cat {cg}/memory/memory.soft_limit_in_bytes"),
        format!("grep oom_kill_disable {cg}/memory/memory.oom_control"),
        format!("cat {cg}/pids/pids.max {cg}/cpu/cpu.cfs_quota_us"),
    ];
    let mut want: Vec<String> = ["67108864", "oom_kill_disable 1", "50", "50000"]
        .map(String::from)
        .to_vec();
    // What this host's kernel offers decides what is set and asserted: a
    // blkio controller without a proportional-weight scheduler has no
    // weight file, an older kernel no cpu burst or idle.
    let optional = [
        Optional {
            files: &["memory/memory.swappiness"],
            resource: ("memory", "swappiness", json!(30)),
            want: |_| "30".into(),
        },
        Optional {
            files: &["blkio/blkio.throttle.read_bps_device"],
            resource: (
                "blockIO",
                "throttleReadBpsDevice",
                json!([{"major": maj, "minor": min, "rate": 1048576}]),
            ),
            want: |disk| format!("{disk} 1048576"),
        },
        Optional {
            files: &["blkio/blkio.throttle.write_iops_device"],
            resource: (
                "blockIO",
                "throttleWriteIOPSDevice",
                json!([{"major": maj, "minor": min, "rate": 200}]),
            ),
            want: |disk| format!("{disk} 200"),
        },
        Optional {
            files: &["blkio/blkio.bfq.weight", "blkio/blkio.weight"],
            resource: ("blockIO", "weight", json!(500)),
            want: |_| "500".into(),
        },
        Optional {
            files: &["cpu/cpu.cfs_burst_us"],
            resource: ("cpu", "burst", json!(10000)),
            want: |_| "10000".into(),
        },
        Optional {
            files: &["cpu/cpu.idle"],
            resource: ("cpu", "idle", json!(1)),
            want: |_| "1".into(),
        },
    ];
    for o in &optional {
        let host = o
            .files
            .iter()
            .find(|f| std::path::Path::new(cg).join(f).exists());
        let Some(file) = host else {
            eprintln!("this host has none of {:?}: not set, not asserted", o.files);
            continue;
        };
        let (group, key, value) = &o.resource;
        res[group][key] = value.clone();
        script.push(format!("cat {cg}/{file}"));
        want.push((o.want)(&disk));
    }
    let script = script.join("; ");
    let b = Bundle::new("cg-limits", &["sh", "-c", &script]);
    with_resources(&b, res);
    let pid = b.create_ok();
    assert!(b.oci(&["start", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 0);
    let got = b.container_stdout();
    assert_eq!(got.lines().collect::<Vec<_>>(), want, "{got}");
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
        if want.contains("hugepage") && hugetlb_controller().is_some() {
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

/// The huge page sizes this host's kernel knows, named as OCI and the
/// cgroup files name them (`hugepages-2048kB` → `2MB`).
fn host_page_sizes() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut sizes: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(match kb {
                k if k % (1024 * 1024) == 0 => format!("{}GB", k / (1024 * 1024)),
                k if k % 1024 == 0 => format!("{}MB", k / 1024),
                k => format!("{k}KB"),
            })
        })
        .collect();
    sizes.sort();
    sizes
}

/// Where this host's hugetlb controller is, if anywhere: a v1 mount
/// (`false`) or a cgroup2 mount offering it (`true`): the unified
/// hierarchy, or the `unified` mount of a hybrid host.
fn hugetlb_controller() -> Option<(std::path::PathBuf, bool)> {
    use nix::sys::statfs::{CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, statfs};
    let offers = |dir: &std::path::Path| {
        std::fs::read_to_string(dir.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "hugetlb"))
    };
    let root = std::path::Path::new("/sys/fs/cgroup");
    if statfs(root).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC) {
        return offers(root).then(|| (root.to_path_buf(), true));
    }
    for entry in std::fs::read_dir(root).ok()?.flatten() {
        let dir = entry.path();
        let Ok(fs) = statfs(&dir) else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        if fs.filesystem_type() == CGROUP_SUPER_MAGIC && name.split(',').any(|c| c == "hugetlb") {
            return Some((dir, false));
        }
        if fs.filesystem_type() == CGROUP2_SUPER_MAGIC && offers(&dir) {
            return Some((dir, true));
        }
    }
    None
}

/// What the kubelet sends on every container: a limit of 0 pages for every
/// size the host knows. It must never stop a container from starting;
/// where the host has a hugetlb controller (v1, or the cgroup2 mount of a
/// hybrid host) the limit is in force, and an update reaches it too.
#[test]
fn kubelet_zero_hugepage_limits_start_and_apply_where_the_controller_is() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let sizes = host_page_sizes();
    let b = Bundle::new("cg-hugepages", &["sleep", "1000"]);
    let limits: Vec<Value> = sizes
        .iter()
        .map(|s| json!({"pageSize": s, "limit": 0}))
        .collect();
    with_resources(&b, json!({"hugepageLimits": limits}));
    let pid = b.create_ok();
    let controller = hugetlb_controller();
    eprintln!("page sizes {sizes:?}, hugetlb controller {controller:?}");
    if let Some((mount, v2)) = &controller {
        let dir = mount.join(b.cgroup.trim_start_matches('/'));
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "the init is not in {}: {procs:?}",
            dir.display()
        );
        let file = |size: &str| match v2 {
            true => dir.join(format!("hugetlb.{size}.max")),
            false => dir.join(format!("hugetlb.{size}.limit_in_bytes")),
        };
        for size in &sizes {
            let got = std::fs::read_to_string(file(size)).unwrap();
            assert_eq!(got.trim(), "0", "{size}");
        }
        // UpdateContainerResources reaches the same files.
        if let Some(size) = sizes.iter().find(|s| s.as_str() == "2MB") {
            let update = b.dir.path().join("update.json");
            let res = json!({"hugepageLimits": [{"pageSize": size, "limit": 4194304}]});
            std::fs::write(&update, res.to_string()).unwrap();
            let out = b.oci(&["update", "--resources", update.to_str().unwrap(), &b.id]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let got = std::fs::read_to_string(file(size)).unwrap();
            assert_eq!(got.trim(), "4194304");
        }
    }
    assert!(b.oci(&["start", &b.id]).status.success());
    wait_status(&b, "running");
    assert!(b.oci(&["delete", "--force", &b.id]).status.success());
    assert_eq!(wait_exit(pid), 137);
    for d in b.cgroup_dirs() {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    if let Some((mount, _)) = controller {
        let dir = mount.join(b.cgroup.trim_start_matches('/'));
        assert!(!dir.exists(), "{} left behind", dir.display());
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
    if !is_root() {
        return;
    }
    let Some(root) = root else {
        // A host capability, not a missing install step: nothing to skip.
        eprintln!("eBPF device test: this host has no cgroup2 mount");
        return;
    };
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

/// The child cgroups of `dir`, when it exists.
fn children(dir: &std::path::Path) -> Option<Vec<String>> {
    let entries = std::fs::read_dir(dir).ok()?;
    Some(
        entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
    )
}

#[test]
fn the_default_parent_cgroup_goes_with_its_last_container() {
    if !is_root() {
        return;
    }
    become_subreaper();
    let a = Bundle::new("defparent-a", &["true"]);
    let b = Bundle::new("defparent-b", &["true"]);
    for x in [&a, &b] {
        let mut cfg = x.config();
        cfg["linux"].as_object_mut().unwrap().remove("cgroupsPath");
        x.write_config(cfg);
    }
    let parent_dirs = cradle_shim::cgroups::Cgroup::new("/cradle-oci")
        .unwrap()
        .dirs();
    let pa = a.create_ok();
    let pb = b.create_ok();
    for dir in &parent_dirs {
        let kids = children(dir).unwrap_or_default();
        assert!(
            kids.contains(&a.id) && kids.contains(&b.id),
            "{dir:?}: {kids:?}"
        );
    }
    for (x, pid) in [(&a, pa), (&b, pb)] {
        assert!(x.oci(&["start", &x.id]).status.success());
        assert_eq!(wait_exit(pid), 0);
    }
    assert!(a.oci(&["delete", &a.id]).status.success());
    for dir in &parent_dirs {
        let kids = children(dir).expect("the parent stays while b is in it");
        assert!(
            !kids.contains(&a.id) && kids.contains(&b.id),
            "{dir:?}: {kids:?}"
        );
    }
    assert!(b.oci(&["delete", &b.id]).status.success());
    for dir in &parent_dirs {
        // Gone, unless a container that is not this test's lives there.
        if let Some(kids) = children(dir) {
            assert!(!kids.is_empty(), "{dir:?} left behind empty");
            assert!(!kids.contains(&b.id), "{dir:?}: {kids:?}");
        }
    }
}
