//! Readable tables of the reports (the JSON form is serde's).

use std::fmt::Write;

use crate::procmem::{Group, Mem};
use crate::stats::Summary;
use crate::{cri_bench, oci_bench, pull_bench};

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn summary_row(out: &mut String, label: &str, s: &Summary) {
    let _ = writeln!(
        out,
        "  {label:<30} {:>9.2} {:>9.2} {:>9.2} {:>9.2}   (n={})",
        s.median_ms, s.p95_ms, s.min_ms, s.max_ms, s.n
    );
}

fn header(out: &mut String) {
    let _ = writeln!(
        out,
        "  {:<30} {:>9} {:>9} {:>9} {:>9}",
        "phase [ms]", "median", "p95", "min", "max"
    );
}

fn group_row(out: &mut String, label: &str, g: &Group) {
    let _ = writeln!(
        out,
        "  {label:<30} {:>4} procs  RSS {:>7} MiB  PSS {:>7} MiB",
        g.count,
        mib(g.mem.rss_kib),
        mib(g.mem.pss_kib)
    );
}

fn mem_row(out: &mut String, label: &str, m: &Mem) {
    let _ = writeln!(
        out,
        "  {label:<30}             RSS {:>7} MiB  PSS {:>7} MiB",
        mib(m.rss_kib),
        mib(m.pss_kib)
    );
}

pub fn cri(r: &cri_bench::Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "CRI {} ({}) image {}", r.runtime, r.endpoint, r.image);
    let _ = writeln!(
        out,
        "  {} iterations, concurrency {}, {} failed, {:.1} s wall, {:.2} pods/s",
        r.iterations, r.concurrency, r.failures, r.wall_s, r.pods_per_s
    );
    for e in &r.first_errors {
        let _ = writeln!(out, "  error: {e}");
    }
    header(&mut out);
    for (label, s) in &r.phases {
        summary_row(&mut out, label, s);
    }
    if let Some(m) = &r.memory {
        let _ = writeln!(out, "  memory (daemon pid {:?}):", m.daemon_pid);
        group_row(&mut out, "daemon idle (start)", &m.idle_at_start.daemon);
        group_row(
            &mut out,
            "daemon idle (after runs)",
            &m.idle_after_runs.daemon,
        );
        group_row(
            &mut out,
            &format!("daemon, {} pods running", m.pods),
            &m.with_pods.daemon,
        );
        group_row(
            &mut out,
            &format!("shims, {} pods", m.pods),
            &m.with_pods.shims,
        );
        group_row(
            &mut out,
            &format!("pause+containers, {} pods", m.pods),
            &m.with_pods.shim_children,
        );
        mem_row(&mut out, "per pod (shims+pause+sleep)", &m.per_pod);
        mem_row(&mut out, "per pod, shims only", &m.per_pod_shims);
    }
    out
}

pub fn oci(reports: &[oci_bench::RuntimeReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let _ = writeln!(
            out,
            "OCI {} ({}), cgroups: {}{}",
            r.runtime,
            r.version,
            r.cgroups,
            if r.seccomp {
                ", seccomp: RuntimeDefault"
            } else {
                ""
            }
        );
        if let Some(e) = &r.error {
            let _ = writeln!(out, "  FAILED: {e}");
        }
        if r.phases.is_empty() {
            continue;
        }
        header(&mut out);
        for (label, s) in &r.phases {
            summary_row(&mut out, label, s);
        }
        let peak = |p: &Option<oci_bench::PeakRss>| {
            p.map_or("-".to_string(), |p| {
                format!("{}/{}", mib(p.max_kib), mib(p.median_kib))
            })
        };
        let _ = writeln!(
            out,
            "  peak RSS [MiB] max/median: create {}  start {}  delete {}  init(pre-exec) {}/{}",
            peak(&r.rss_create),
            peak(&r.rss_start),
            peak(&r.rss_delete),
            mib(r.rss_init.max_kib),
            mib(r.rss_init.median_kib),
        );
        let _ = writeln!(out, "  {}", rss_note(r));
    }
    out
}

/// How the launcher RSS figures were measured, or why they are missing.
fn rss_note(r: &oci_bench::RuntimeReport) -> String {
    match r.rss_floor_kib {
        Some(floor) => format!(
            "RSS floor of the measuring trampoline: {} MiB (create/start/delete: {} runs \
             through it; init: the timed runs)",
            mib(floor),
            r.rss_iterations
        ),
        None => "launcher RSS not measured (no cradle-bench-rss trampoline); init: the timed runs"
            .to_string(),
    }
}

pub fn pull(r: &pull_bench::Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "PULL {} ({}) image {}", r.runtime, r.endpoint, r.image);
    let _ = writeln!(
        out,
        "  {:.1} MiB per pull ({})",
        r.bytes as f64 / 1048576.0,
        r.bytes_source
    );
    for e in &r.failures {
        let _ = writeln!(out, "  error: {e}");
    }
    if let Some(s) = &r.pull {
        header(&mut out);
        summary_row(&mut out, "PullImage (download+unpack)", s);
        let _ = writeln!(
            out,
            "  throughput: {:.1} MiB/s at the median, {:.1} MiB/s best",
            r.median_mib_s, r.best_mib_s
        );
    }
    out
}
