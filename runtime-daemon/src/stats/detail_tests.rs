//! The detail reader over fake cgroup v1 and v2 trees and a fake `/proc`:
//! every counter read in its unit, a missing one left out.

use super::*;
use std::fs;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    fs::write(path, text).expect("write");
}

/// A temp cgroup root holding `files` (path under the root, text).
fn cgroup_root(files: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tmp");
    for (rel, text) in files {
        write(root.path(), rel, text);
    }
    root
}

#[test]
fn cgroup_v1_files_are_read_with_their_units() {
    let root = cgroup_root(&[
        (
            "cpu/pod/c1/cpu.stat",
            "nr_periods 10\nnr_throttled 3\nthrottled_time 2500000000\n",
        ),
        ("cpuacct/pod/c1/cpuacct.stat", "user 250\nsystem 120\n"),
        (
            "memory/pod/c1/memory.stat",
            "total_cache 4096\ntotal_mapped_file 512\n",
        ),
        ("memory/pod/c1/memory.failcnt", "7\n"),
        ("memory/pod/c1/memory.kmem.usage_in_bytes", "8192\n"),
        ("memory/pod/c1/memory.max_usage_in_bytes", "65536\n"),
        (
            "memory/pod/c1/memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        ),
        ("pids/pod/c1/pids.max", "max\n"),
        ("pids/pod/c1/cgroup.procs", "42\n"),
        (
            "blkio/pod/c1/blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 100\n8:0 Write 200\n8:0 Total 300\nTotal 300\n",
        ),
        (
            "blkio/pod/c1/blkio.throttle.io_serviced_recursive",
            "8:0 Read 1\n8:0 Write 2\n",
        ),
    ]);
    let proc = tempfile::tempdir().expect("tmp");
    let r = root.path();
    write(proc.path(), "42/status", "Name:\tsh\nThreads:\t3\n");
    fs::create_dir_all(proc.path().join("42/fd")).expect("fd dir");
    std::os::unix::fs::symlink("/dev/null", proc.path().join("42/fd/0")).expect("fd");
    std::os::unix::fs::symlink("socket:[123]", proc.path().join("42/fd/3")).expect("fd");

    let s = read(r, proc.path(), "/pod/c1");
    assert_eq!(s.cfs_periods, Some(10));
    assert_eq!(s.cfs_throttled_periods, Some(3));
    assert_eq!(s.cfs_throttled_ns, Some(2_500_000_000));
    assert_eq!(s.user_ns, Some(2_500_000_000), "250 ticks of 10 ms");
    assert_eq!(s.system_ns, Some(1_200_000_000));
    assert_eq!((s.cache, s.mapped_file), (Some(4096), Some(512)));
    assert_eq!(s.swap, None, "no swap accounting: left out");
    assert_eq!(
        (s.failcnt, s.kernel, s.max_usage),
        (Some(7), Some(8192), Some(65536))
    );
    assert_eq!(s.oom_kills, Some(2));
    assert_eq!(s.threads_max, Some(0), "max is unlimited");
    assert_eq!((s.threads, s.fds, s.sockets), (Some(3), Some(2), Some(1)));
    assert_eq!(
        s.io,
        vec![DeviceIo {
            major: 8,
            minor: 0,
            read_bytes: 100,
            write_bytes: 200,
            reads: 1,
            writes: 2,
        }]
    );
}

#[test]
fn cgroup_v2_files_are_read_with_their_units() {
    let root = cgroup_root(&[
        ("cgroup.controllers", "cpu memory pids io\n"),
        (
            "pod/c1/cpu.stat",
            "usage_usec 9\nuser_usec 3000000\nsystem_usec 1000000\nnr_periods 4\nnr_throttled 1\nthrottled_usec 500000\n",
        ),
        (
            "pod/c1/memory.stat",
            "anon 1\nfile 2048\nfile_mapped 64\nkernel 4096\n",
        ),
        (
            "pod/c1/memory.events",
            "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n",
        ),
        ("pod/c1/memory.swap.current", "0\n"),
        ("pod/c1/memory.peak", "1000\n"),
        ("pod/c1/pids.max", "256\n"),
        (
            "pod/c1/io.stat",
            "8:16 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
        ),
    ]);
    let proc = tempfile::tempdir().expect("tmp");
    let r = root.path();
    let s = read(r, proc.path(), "pod/c1");
    assert_eq!(s.cfs_throttled_ns, Some(500_000_000));
    assert_eq!(
        (s.user_ns, s.system_ns),
        (Some(3_000_000_000), Some(1_000_000_000))
    );
    assert_eq!(
        (s.cache, s.mapped_file, s.kernel),
        (Some(2048), Some(64), Some(4096))
    );
    assert_eq!(
        (s.failcnt, s.oom_kills, s.swap, s.max_usage),
        (Some(5), Some(1), Some(0), Some(1000))
    );
    assert_eq!(s.threads_max, Some(256));
    assert_eq!(s.threads, None, "no cgroup.procs: left out");
    assert_eq!(s.io.len(), 1);
    assert_eq!(
        (s.io[0].minor, s.io[0].write_bytes, s.io[0].writes),
        (16, 20, 2)
    );
}
