//! Readable tables of the reports (the JSON form is serde's).

use std::fmt::Write;

use crate::procmem::{Group, Mem};
use crate::stats::Summary;
use crate::{conc_bench, cri_bench, density_bench, oci_bench, pull_bench};

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
    if let Some(c) = &r.cold_check {
        let growth: Vec<String> = c.growth_bytes.iter().map(|&b| mib(b / 1024)).collect();
        let before: Vec<String> = c.before_pull_bytes.iter().map(|&b| mib(b / 1024)).collect();
        let _ = writeln!(
            out,
            "  cold: {} ({} before each pull: [{}] MiB; grown by each: [{}] MiB)",
            if c.cold { "yes" } else { "NO" },
            c.root_dir.display(),
            before.join(", "),
            growth.join(", ")
        );
    }
    out
}

/// `median / p99` of a summary in ms, or `-`.
fn med_p99(s: &Option<Summary>) -> String {
    s.map_or("-".into(), |s| {
        format!("{:.2} / {:.2}", s.median_ms, s.p99_ms)
    })
}

fn opt_mib(kib: Option<u64>) -> String {
    kib.map_or("-".into(), mib)
}

pub fn density(r: &density_bench::Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "DENSITY {} ({}) image {}",
        r.runtime, r.endpoint, r.image
    );
    let _ = writeln!(
        out,
        "  {} calls per rpc and level, churn {}/s beside them; node {} MiB, {} MiB used idle",
        r.calls,
        r.churn_per_s,
        opt_mib(r.node_total_kib),
        opt_mib(r.idle_node_used_kib)
    );
    let _ = writeln!(
        out,
        "  daemon pid {:?}: RSS {} MiB, PSS {} MiB before the pods",
        r.daemon_pid,
        mib(r.idle.daemon.mem.rss_kib),
        mib(r.idle.daemon.mem.pss_kib)
    );
    for l in &r.levels {
        let _ = writeln!(
            out,
            "  {} pods running (target {}): filled in {:.1} s, {} failed; start ms median / p99 {}",
            l.pods,
            l.target,
            l.fill_s,
            l.fill_failures,
            med_p99(&l.fill_start)
        );
        if let Some(e) = &l.fill_first_error {
            let _ = writeln!(out, "    error: {e}");
        }
        let _ = writeln!(
            out,
            "    {:<22} {:>9} {:>9} {:>9} {:>5} {:>6} {:>6}   (with errors: every call)",
            "rpc [ms]", "median", "p99", "max", "n", "items", "errors"
        );
        for c in &l.rpcs {
            // With failures: every call, as long as the caller waited.
            let shown = if c.errors > 0 {
                c.latency_all
            } else {
                c.latency
            };
            let (m, p, x, n) = shown.map_or((0.0, 0.0, 0.0, 0), |s| {
                (s.median_ms, s.p99_ms, s.max_ms, s.n)
            });
            let _ = writeln!(
                out,
                "    {:<22} {m:>9.2} {p:>9.2} {x:>9.2} {n:>5} {:>6} {:>6}",
                c.rpc, c.items, c.errors
            );
            if let Some(e) = &c.first_error {
                let _ = writeln!(out, "      error: {e}");
            }
        }
        let cpu = |s: Option<f64>| s.map_or("-".into(), |s| format!("{s:.2}"));
        let _ = writeln!(
            out,
            "    daemon RSS {} MiB, PSS {} MiB; CPU {} s so far, {} s during the calls",
            mib(l.daemon.mem.rss_kib),
            mib(l.daemon.mem.pss_kib),
            cpu(l.daemon_cpu_s),
            cpu(l.calls_daemon_cpu_s)
        );
        let _ = writeln!(
            out,
            "    shims {} procs PSS {} MiB; under them {} procs PSS {} MiB (the sleeps: {} procs PSS {} MiB)",
            l.shims.count,
            mib(l.shims.mem.pss_kib),
            l.shim_children.count,
            mib(l.shim_children.mem.pss_kib),
            l.workload.count,
            mib(l.workload.mem.pss_kib),
        );
        let _ = writeln!(
            out,
            "    per pod PSS {} MiB (RSS {}); without the sleep (shim+pause): PSS {} MiB (RSS {})",
            mib(l.per_pod.pss_kib),
            mib(l.per_pod.rss_kib),
            mib(l.per_pod_overhead.pss_kib),
            mib(l.per_pod_overhead.rss_kib)
        );
        let _ = writeln!(
            out,
            "    node used {} MiB (+{} MiB over idle)",
            opt_mib(l.node_used_kib),
            opt_mib(l.node_growth_kib)
        );
        let ch = &l.churn;
        let _ = writeln!(
            out,
            "    churn: {} started, {} removed, {} failed in {:.1} s; start ms median / p99 {}",
            ch.started,
            ch.removed,
            ch.failures,
            ch.seconds,
            med_p99(&ch.start)
        );
        if let Some(e) = &ch.first_error {
            let _ = writeln!(out, "      churn error: {e}");
        }
    }
    let _ = writeln!(
        out,
        "  teardown of all pods: {:.1} s, {} failed",
        r.teardown_s, r.teardown_failures
    );
    out
}

pub fn concurrency(r: &conc_bench::Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "CONCURRENCY {} ({}) image {}, {} pods per client",
        r.runtime, r.endpoint, r.image, r.pods_per_client
    );
    let _ = writeln!(
        out,
        "  {:>7} {:>5} {:>6} {:>7}   RunPodSandbox -> RUNNING [ms] median / p99 / max",
        "clients", "pods", "failed", "pods/s"
    );
    for l in &r.levels {
        let s = l.start.map_or("-".into(), |s| {
            format!("{:.1} / {:.1} / {:.1}", s.median_ms, s.p99_ms, s.max_ms)
        });
        let _ = writeln!(
            out,
            "  {:>7} {:>5} {:>6} {:>7.2}   {s}",
            l.clients, l.pods, l.failures, l.pods_per_s
        );
        let steps: Vec<String> = l
            .phases
            .iter()
            .map(|(name, s)| format!("{name} {:.1}/{:.1}", s.median_ms, s.p99_ms))
            .collect();
        let _ = writeln!(out, "          steps median/p99: {}", steps.join(", "));
        for e in &l.first_errors {
            let _ = writeln!(out, "          error: {e}");
        }
    }
    out
}
