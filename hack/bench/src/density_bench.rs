//! `cradle-bench density`: the runtime brought to 10, 100, 500… running
//! pods (pause + one `sleep` container each); at each level the repeated
//! list and stats calls are timed back to back while a churn task starts
//! and removes a pod a second beside them, and the memory and CPU of the
//! runtime and the node are read from /proc.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::churn::{self, ChurnReport};
use crate::client::{Cri, socket_path};
use crate::cri_bench;
use crate::cri_steps::PodTemplate;
use crate::fleet::{self, RunningPod};
use crate::list_calls::{self, Rpc, RpcLatency};
use crate::procmem::{self, Group, Mem, Selector, Snapshot};
use crate::procstat;
use crate::stats::Summary;

/// Options of a `density` run.
#[derive(Debug, Clone)]
pub struct Options {
    pub endpoint: String,
    pub template: PodTemplate,
    /// Running pods at each level, ascending.
    pub levels: Vec<usize>,
    /// Calls of each list/stats rpc per level.
    pub calls: usize,
    /// At most this long per rpc and level (fewer calls if slower).
    pub rpc_budget: Duration,
    /// Churn pods per second during the calls (0: none).
    pub churn_per_s: f64,
    /// Parallel clients bringing the runtime to a level and tearing down.
    pub create_concurrency: usize,
    /// Pause before the memory is read at a level.
    pub settle: Duration,
    pub daemon_pid: Option<i32>,
    pub shim_names: Vec<String>,
    pub shim_match: Option<String>,
    pub call_timeout: Duration,
}

/// What one level measured.
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    /// Pods running at this level (below the target if starts failed).
    pub pods: usize,
    pub target: usize,
    /// Seconds to start this level's new pods.
    pub fill_s: f64,
    pub fill_failures: usize,
    pub fill_first_error: Option<String>,
    /// RunPodSandbox → RUNNING of this level's new pods.
    pub fill_start: Option<Summary>,
    pub daemon: Group,
    /// The daemon's CPU time (user + system) so far.
    pub daemon_cpu_s: Option<f64>,
    /// The daemon's CPU time during the calls (with the churn).
    pub calls_daemon_cpu_s: Option<f64>,
    pub shims: Group,
    /// Pause and container processes under the shims.
    pub shim_children: Group,
    /// The containers' own `sleep` processes (part of `shim_children`).
    pub workload: Group,
    /// (shims + descendants now − idle) / pods.
    pub per_pod: Mem,
    /// The same without the containers' own processes: what the runtime
    /// adds per pod (shim, pause, anything else it runs).
    pub per_pod_overhead: Mem,
    /// MemTotal − MemAvailable now.
    pub node_used_kib: Option<u64>,
    /// Its growth since before the first pod.
    pub node_growth_kib: Option<u64>,
    pub rpcs: Vec<RpcLatency>,
    pub churn: ChurnReport,
}

/// Everything a `density` run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// "density": what `compare` recognises.
    pub kind: String,
    pub endpoint: String,
    pub runtime: String,
    pub image: String,
    pub daemon_pid: Option<i32>,
    pub calls: usize,
    pub churn_per_s: f64,
    pub node_total_kib: Option<u64>,
    pub idle: Snapshot,
    pub idle_node_used_kib: Option<u64>,
    pub levels: Vec<Level>,
    /// Seconds to remove every pod at the end.
    pub teardown_s: f64,
    pub teardown_failures: usize,
}

/// Runtime processes' memory (shims and what they run) in a snapshot.
fn pod_side(s: &Snapshot) -> Mem {
    let mut m = s.shims.mem;
    m += s.shim_children.mem;
    m
}

/// The same without the workload's processes.
fn overhead(s: &Snapshot) -> Mem {
    let all = pod_side(s);
    Mem {
        rss_kib: all.rss_kib.saturating_sub(s.workload.mem.rss_kib),
        pss_kib: all.pss_kib.saturating_sub(s.workload.mem.pss_kib),
    }
}

/// `(now − idle) / pods`, never negative.
pub fn per_pod(now: Mem, idle: Mem, pods: usize) -> Mem {
    let pods = pods.max(1) as u64;
    Mem {
        rss_kib: now.rss_kib.saturating_sub(idle.rss_kib) / pods,
        pss_kib: now.pss_kib.saturating_sub(idle.pss_kib) / pods,
    }
}

/// The levels sorted, deduplicated and without 0.
pub fn normalise_levels(levels: &[usize]) -> Vec<usize> {
    let mut l: Vec<usize> = levels.iter().copied().filter(|&n| n > 0).collect();
    l.sort_unstable();
    l.dedup();
    l
}

/// Times every rpc while the churn runs beside the calls.
async fn calls_with_churn(cri: &mut Cri, o: &Options) -> (Vec<RpcLatency>, ChurnReport) {
    let (stop_tx, stop_rx) = watch::channel(false);
    // In a JoinSet: dropped (the run cut short), the churn stops too.
    let mut churn = JoinSet::new();
    churn.spawn(churn::run(
        cri.clone(),
        o.template.clone(),
        o.churn_per_s,
        stop_rx,
    ));
    let mut rpcs = Vec::new();
    for rpc in Rpc::ALL {
        rpcs.push(list_calls::measure(cri, rpc, o.calls, o.rpc_budget).await);
    }
    let _ = stop_tx.send(true);
    let churn = match churn.join_next().await {
        Some(Ok(report)) => report,
        Some(Err(e)) => ChurnReport {
            first_error: Some(format!("churn task failed: {e}")),
            ..Default::default()
        },
        None => ChurnReport::default(),
    };
    (rpcs, churn)
}

/// The whole benchmark. Every pod it starts carries the template's labels:
/// after an error or an interruption the caller sweeps them
/// ([`fleet::sweep`]).
pub async fn run(o: &Options) -> anyhow::Result<Report> {
    let levels = normalise_levels(&o.levels);
    if levels.is_empty() {
        bail!("no levels");
    }
    let mut cri = Cri::connect(&o.endpoint, o.call_timeout).await?;
    let runtime = cri_bench::version(&mut cri).await;
    let daemon_pid = o
        .daemon_pid
        .or_else(|| procmem::socket_owner(&socket_path(&o.endpoint).ok()?));
    let sel = Selector {
        daemon_pid,
        shim_names: o.shim_names.clone(),
        shim_match: o.shim_match.clone(),
        workload_match: Some(fleet::sleep_command().join(" ")),
    };
    cri_bench::ensure_image(&mut cri, &o.template.image, false).await?;
    // Warm-up: one pod pays the one-time costs (a pause image pull).
    let (warm, _) = fleet::start_pod(&mut cri, &o.template, &fleet::sleep_command()).await?;
    fleet::remove_pod(&mut cri, &o.template, &warm).await?;
    tokio::time::sleep(o.settle).await;
    let idle = procmem::snapshot(&sel);
    let node = procstat::node_memory();
    let idle_node_used_kib = node.map(|n| n.1);
    let mut pods: Vec<RunningPod> = Vec::new();
    let mut out = Vec::new();
    for &target in &levels {
        let want = target.saturating_sub(pods.len());
        let t0 = Instant::now();
        let (started, errors) =
            fleet::start_many(&cri, &o.template, want, o.create_concurrency).await;
        let fill_s = t0.elapsed().as_secs_f64();
        let starts: Vec<Duration> = started.iter().map(|(_, t)| t.total).collect();
        pods.extend(started.into_iter().map(|(p, _)| p));
        if pods.is_empty() {
            bail!(
                "no pod started: {}",
                errors.first().map_or("?", String::as_str)
            );
        }
        tokio::time::sleep(o.settle).await;
        let now = procmem::snapshot(&sel);
        let node_used_kib = procstat::node_memory().map(|n| n.1);
        let cpu0 = daemon_pid.and_then(procstat::cpu_seconds);
        let (rpcs, churn) = calls_with_churn(&mut cri, o).await;
        let cpu1 = daemon_pid.and_then(procstat::cpu_seconds);
        let short = !errors.is_empty();
        out.push(Level {
            pods: pods.len(),
            target,
            fill_s,
            fill_failures: errors.len(),
            fill_first_error: errors.into_iter().next(),
            fill_start: Summary::of(&starts),
            per_pod: per_pod(pod_side(&now), pod_side(&idle), pods.len()),
            per_pod_overhead: per_pod(overhead(&now), overhead(&idle), pods.len()),
            workload: now.workload.clone(),
            daemon: now.daemon,
            daemon_cpu_s: cpu0,
            calls_daemon_cpu_s: cpu0.zip(cpu1).map(|(a, b)| b - a),
            shims: now.shims,
            shim_children: now.shim_children,
            node_used_kib,
            node_growth_kib: node_used_kib
                .zip(idle_node_used_kib)
                .map(|(n, i)| n.saturating_sub(i)),
            rpcs,
            churn,
        });
        // A runtime that could not take this level is not pushed further.
        if short {
            break;
        }
    }
    let t0 = Instant::now();
    let teardown_errors = fleet::remove_many(&cri, &o.template, pods, o.create_concurrency).await;
    Ok(Report {
        kind: "density".into(),
        endpoint: o.endpoint.clone(),
        runtime,
        image: o.template.image.clone(),
        daemon_pid,
        calls: o.calls,
        churn_per_s: o.churn_per_s,
        node_total_kib: node.map(|n| n.0),
        idle,
        idle_node_used_kib,
        levels: out,
        teardown_s: t0.elapsed().as_secs_f64(),
        teardown_failures: teardown_errors.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_sorted_unique_and_positive() {
        assert_eq!(normalise_levels(&[500, 10, 0, 100, 10]), vec![10, 100, 500]);
        assert!(normalise_levels(&[0]).is_empty());
    }

    #[test]
    fn per_pod_is_the_growth_over_idle_divided() {
        let now = Mem {
            rss_kib: 5_000,
            pss_kib: 2_100,
        };
        let idle = Mem {
            rss_kib: 1_000,
            pss_kib: 100,
        };
        assert_eq!(
            per_pod(now, idle, 4),
            Mem {
                rss_kib: 1_000,
                pss_kib: 500
            }
        );
        assert_eq!(per_pod(idle, now, 4), Mem::default());
    }
}
