//! cgroup v2 writes on a fake unified tree: a temp dir shaped like a
//! cgroup2 mount, whose interface files the tests create as the kernel
//! would (a write never creates a file, so a missing one stands for a
//! controller or feature the host lacks).

use std::path::Path;

use super::*;
use crate::spec::LinuxResources;

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

fn touch(dir: &Path, files: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    for f in files {
        std::fs::write(dir.join(f), "").unwrap();
    }
}

fn read(dir: &Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap()
}

#[test]
fn controllers_are_enabled_from_the_root_down_where_available() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::write(
        r.join("cgroup.controllers"),
        "cpuset cpu io memory hugetlb pids misc\n",
    )
    .unwrap();
    // The kernel lists in a child what its parent enabled.
    std::fs::create_dir(r.join("kubepods")).unwrap();
    std::fs::write(r.join("kubepods/cgroup.controllers"), "cpu memory pids\n").unwrap();
    create(r, "/kubepods/pod1/c1").unwrap();
    assert_eq!(
        read(r, "cgroup.subtree_control"),
        "+cpuset +cpu +io +memory +hugetlb +pids"
    );
    assert_eq!(
        read(&r.join("kubepods"), "cgroup.subtree_control"),
        "+cpu +memory +pids"
    );
    // pod1 lists nothing here: nothing to enable; the leaf enables nothing.
    assert!(!r.join("kubepods/pod1/cgroup.subtree_control").exists());
    assert!(r.join("kubepods/pod1/c1").is_dir());
    assert!(!r.join("kubepods/pod1/c1/cgroup.subtree_control").exists());
}

#[test]
fn every_v2_limit_lands_in_its_file() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    touch(
        dir,
        &[
            "cpu.weight",
            "cpu.max",
            "cpuset.cpus",
            "cpuset.mems",
            "memory.max",
            "memory.low",
            "memory.swap.max",
            "memory.high",
            "pids.max",
            "io.weight",
            "io.max",
            "hugetlb.2MB.max",
            "hugetlb.2MB.rsvd.max",
        ],
    );
    let warnings = apply(
        dir,
        &res(serde_json::json!({
            "cpu": {"shares": 2, "quota": -1, "period": 50000, "cpus": "1", "mems": "0"},
            "memory": {"limit": 268435456, "reservation": 1024, "swap": 268435456},
            "pids": {"limit": 64},
            "blockIO": {"weight": 10, "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 4096}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
            "unified": {"memory.high": "134217728"}
        })),
    )
    .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(read(dir, "cpu.weight"), "1");
    assert_eq!(read(dir, "cpu.max"), "max 50000");
    assert_eq!(read(dir, "cpuset.cpus"), "1");
    assert_eq!(read(dir, "cpuset.mems"), "0");
    assert_eq!(read(dir, "memory.max"), "268435456");
    assert_eq!(read(dir, "memory.low"), "1024");
    // memory+swap equal to memory: no swap at all.
    assert_eq!(read(dir, "memory.swap.max"), "0");
    assert_eq!(read(dir, "memory.high"), "134217728");
    assert_eq!(read(dir, "pids.max"), "64");
    assert_eq!(read(dir, "io.weight"), "default 1");
    assert_eq!(read(dir, "io.max"), "8:0 wbps=4096");
    assert_eq!(read(dir, "hugetlb.2MB.max"), "4194304");
}

#[test]
fn unlimited_swap_needs_no_swap_accounting() {
    let d = tempfile::tempdir().unwrap();
    touch(d.path(), &["memory.max"]);
    // No memory.swap.max: the host has no swap accounting.
    apply(d.path(), &res(serde_json::json!({"memory": {"limit": -1}}))).unwrap();
    assert_eq!(read(d.path(), "memory.max"), "max");
    let e = apply(
        d.path(),
        &res(serde_json::json!({"memory": {"limit": 100, "swap": 300}})),
    )
    .unwrap_err();
    assert!(e.to_string().contains("resources.memory.swap"), "{e}");
}

#[test]
fn unified_keys_are_written_verbatim_and_paths_refused() {
    let d = tempfile::tempdir().unwrap();
    touch(d.path(), &["cpu.idle", "memory.oom.group"]);
    apply(
        d.path(),
        &res(serde_json::json!({"unified": {"cpu.idle": "1", "memory.oom.group": "1"}})),
    )
    .unwrap();
    assert_eq!(read(d.path(), "cpu.idle"), "1");
    assert_eq!(read(d.path(), "memory.oom.group"), "1");
    for key in ["../cgroup.procs", "a/b", "..", ".", ""] {
        let e = apply(d.path(), &res(serde_json::json!({"unified": {key: "1"}}))).unwrap_err();
        assert!(e.to_string().contains("unified key"), "{key:?}: {e}");
    }
    assert!(!d.path().parent().unwrap().join("cgroup.procs").exists());
    // A key whose file this host lacks names the field.
    let e = apply(
        d.path(),
        &res(serde_json::json!({"unified": {"io.latency": "x"}})),
    )
    .unwrap_err();
    assert!(e.to_string().contains("unified.io.latency"), "{e}");
}

#[test]
fn what_v2_cannot_express_is_refused_naming_the_field() {
    let d = tempfile::tempdir().unwrap();
    touch(d.path(), &["memory.max", "cpu.weight"]);
    for (json, field) in [
        (
            serde_json::json!({"memory": {"swappiness": 10}}),
            "memory.swappiness",
        ),
        (
            serde_json::json!({"memory": {"kernel": 1024}}),
            "memory.kernel",
        ),
        (
            serde_json::json!({"memory": {"disableOOMKiller": true}}),
            "memory.disableOOMKiller",
        ),
        (
            serde_json::json!({"cpu": {"realtimeRuntime": 1000}}),
            "cpu.realtimeRuntime",
        ),
        (serde_json::json!({"network": {"classID": 1}}), "network"),
        (
            serde_json::json!({"blockIO": {"leafWeight": 100}}),
            "blockIO.leafWeight",
        ),
    ] {
        let e = apply(d.path(), &res(json)).unwrap_err();
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
}
