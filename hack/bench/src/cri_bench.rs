//! `cradle-bench cri`: pod lifecycle latencies and runtime memory of any CRI
//! runtime, over its socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use cradle_proto::cri;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::client::{Cri, socket_path};
use crate::cri_steps::{self, PodTemplate, Timings};
use crate::procmem::{self, Mem, Selector, Snapshot};
use crate::stats::Summary;

/// Options of a `cri` run.
#[derive(Debug, Clone)]
pub struct Options {
    pub endpoint: String,
    pub template: PodTemplate,
    pub iterations: usize,
    pub concurrency: usize,
    pub warmup: usize,
    pub pull: bool,
    /// Pods (each with one `sleep` container) running for the memory figure; 0: none.
    pub memory_pods: usize,
    pub daemon_pid: Option<i32>,
    pub shim_names: Vec<String>,
    pub shim_match: Option<String>,
    pub call_timeout: Duration,
}

/// Memory of the runtime's processes, idle and with pods running.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    pub daemon_pid: Option<i32>,
    pub idle_at_start: Snapshot,
    pub idle_after_runs: Snapshot,
    pub pods: usize,
    pub with_pods: Snapshot,
    /// (shims + their descendants, with pods − idle) / pods.
    pub per_pod: Mem,
    /// Only the shims' share of `per_pod`.
    pub per_pod_shims: Mem,
}

/// Everything a `cri` run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub endpoint: String,
    pub runtime: String,
    pub image: String,
    pub iterations: usize,
    pub concurrency: usize,
    pub failures: usize,
    pub first_errors: Vec<String>,
    pub wall_s: f64,
    pub pods_per_s: f64,
    /// Phase name → summary, in lifecycle order.
    pub phases: Vec<(String, Summary)>,
    pub memory: Option<MemoryReport>,
}

/// "name version" of the runtime, or why it is unknown.
pub async fn version(cri: &mut Cri) -> String {
    match cri.runtime.version(cri::VersionRequest::default()).await {
        Ok(v) => {
            let v = v.into_inner();
            format!("{} {}", v.runtime_name, v.runtime_version)
        }
        Err(e) => format!("unknown ({})", e.message()),
    }
}

/// Pulls the image if asked, or if the runtime does not have it.
pub async fn ensure_image(cri: &mut Cri, image: &str, force: bool) -> anyhow::Result<()> {
    let spec = cri::ImageSpec {
        image: image.into(),
        ..Default::default()
    };
    if !force {
        let status = cri
            .image
            .image_status(cri::ImageStatusRequest {
                image: Some(spec.clone()),
                verbose: false,
            })
            .await
            .context("ImageStatus")?
            .into_inner();
        if status.image.is_some() {
            return Ok(());
        }
    }
    cri.image
        .pull_image(cri::PullImageRequest {
            image: Some(spec),
            ..Default::default()
        })
        .await
        .with_context(|| format!("PullImage {image}"))?;
    Ok(())
}

/// Runs `n` iterations over `c` workers; returns the timings and the errors.
async fn run_iterations(
    cri: &Cri,
    t: &PodTemplate,
    n: usize,
    c: usize,
) -> (Vec<Timings>, Vec<String>) {
    let next = Arc::new(AtomicUsize::new(0));
    let out = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let mut tasks = Vec::new();
    for _ in 0..c.max(1) {
        let (mut cri, t, next, out) = (cri.clone(), t.clone(), next.clone(), out.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let r = cri_steps::iteration(&mut cri, &t).await;
                let mut o = out.lock().await;
                match r {
                    Ok(timings) => o.0.push(timings),
                    Err(e) => o.1.push(format!("{e:#}")),
                }
            }
        }));
    }
    for task in tasks {
        if let Err(e) = task.await {
            out.lock().await.1.push(format!("worker panicked: {e}"));
        }
    }
    let mut o = out.lock().await;
    (std::mem::take(&mut o.0), std::mem::take(&mut o.1))
}

fn phases(timings: &[Timings]) -> Vec<(String, Summary)> {
    type Pick = fn(&Timings) -> Duration;
    let picks: [(&str, Pick); 11] = [
        ("pod start (RunPodSandbox)", |t| t.run_pod),
        ("container create", |t| t.create),
        ("container start", |t| t.start),
        ("start -> exited", |t| t.wait_exited),
        ("create -> exited", |t| t.create + t.start + t.wait_exited),
        ("teardown (stop+remove both)", |t| t.teardown),
        ("  StopContainer", |t| t.calls.stop_container),
        ("  RemoveContainer", |t| t.calls.remove_container),
        ("  StopPodSandbox", |t| t.calls.stop_pod),
        ("  RemovePodSandbox", |t| t.calls.remove_pod),
        ("whole pod lifecycle", |t| {
            t.run_pod + t.create + t.start + t.wait_exited + t.teardown
        }),
    ];
    picks
        .iter()
        .filter_map(|(name, pick)| {
            let v: Vec<Duration> = timings.iter().map(pick).collect();
            Summary::of(&v).map(|s| (name.to_string(), s))
        })
        .collect()
}

fn diff_per_pod(a: Mem, b: Mem, pods: usize) -> Mem {
    let pods = pods.max(1) as u64;
    Mem {
        rss_kib: a.rss_kib.saturating_sub(b.rss_kib) / pods,
        pss_kib: a.pss_kib.saturating_sub(b.pss_kib) / pods,
    }
}

fn runtime_total(s: &Snapshot) -> Mem {
    let mut m = s.shims.mem;
    m += s.shim_children.mem;
    m
}

/// Starts `n` pods with a `sleep` container each, measures, removes them.
async fn memory_with_pods(
    cri: &mut Cri,
    t: &PodTemplate,
    sel: &Selector,
    n: usize,
) -> anyhow::Result<Snapshot> {
    let mut pods = Vec::new();
    let sleep = vec!["sleep".to_string(), "3600".to_string()];
    let result = async {
        for _ in 0..n {
            let config = cri_steps::pod_config(t)?;
            let pod_id = cri_steps::run_pod(cri, t, &config).await?;
            pods.push((pod_id.clone(), None, config.clone()));
            let id = cri_steps::create(cri, t, &pod_id, &config, &sleep).await?;
            if let Some(last) = pods.last_mut() {
                last.1 = Some(id.clone());
            }
            cri_steps::start(cri, &id).await?;
            cri_steps::wait_state(
                cri,
                &id,
                cri::ContainerState::ContainerRunning,
                t.poll,
                t.exit_timeout,
            )
            .await?;
        }
        // Let lazily touched pages and allocator caches settle.
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<_, anyhow::Error>(procmem::snapshot(sel))
    }
    .await;
    for (pod_id, container, config) in &pods {
        if let Err(e) = cri_steps::teardown(cri, pod_id, container.as_deref()).await {
            eprintln!("cradle-bench: removing memory pod {pod_id}: {e:#}");
        }
        cri_steps::remove_log_dir(t, config);
    }
    result
}

/// The whole `cri` benchmark.
pub async fn run(o: &Options) -> anyhow::Result<Report> {
    let mut cri = Cri::connect(&o.endpoint, o.call_timeout).await?;
    let runtime = version(&mut cri).await;
    let daemon_pid = o
        .daemon_pid
        .or_else(|| procmem::socket_owner(&socket_path(&o.endpoint).ok()?));
    let sel = Selector {
        daemon_pid,
        shim_names: o.shim_names.clone(),
        shim_match: o.shim_match.clone(),
        workload_match: None,
    };
    let idle_at_start = procmem::snapshot(&sel);
    ensure_image(&mut cri, &o.template.image, o.pull).await?;
    // Warm-up: first pods pay one-time costs (pause image pull, caches).
    let (_, warm_errors) = run_iterations(&cri, &o.template, o.warmup, 1).await;
    if let Some(e) = warm_errors.first() {
        anyhow::bail!("warm-up iteration failed: {e}");
    }
    let t0 = Instant::now();
    let (timings, errors) = run_iterations(&cri, &o.template, o.iterations, o.concurrency).await;
    let wall = t0.elapsed().as_secs_f64();
    let memory = if o.memory_pods > 0 {
        let idle_after_runs = procmem::snapshot(&sel);
        let with_pods = memory_with_pods(&mut cri, &o.template, &sel, o.memory_pods).await?;
        let per_pod = diff_per_pod(
            runtime_total(&with_pods),
            runtime_total(&idle_after_runs),
            o.memory_pods,
        );
        let per_pod_shims = diff_per_pod(
            with_pods.shims.mem,
            idle_after_runs.shims.mem,
            o.memory_pods,
        );
        Some(MemoryReport {
            daemon_pid,
            idle_at_start,
            idle_after_runs,
            pods: o.memory_pods,
            with_pods,
            per_pod,
            per_pod_shims,
        })
    } else {
        None
    };
    Ok(Report {
        endpoint: o.endpoint.clone(),
        runtime,
        image: o.template.image.clone(),
        iterations: o.iterations,
        concurrency: o.concurrency,
        failures: errors.len(),
        first_errors: errors.into_iter().take(3).collect(),
        wall_s: wall,
        pods_per_s: if wall > 0.0 {
            timings.len() as f64 / wall
        } else {
            0.0
        },
        phases: phases(&timings),
        memory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_pod_memory_is_the_growth_divided_and_never_negative() {
        let with = Mem {
            rss_kib: 12_000,
            pss_kib: 5_000,
        };
        let idle = Mem {
            rss_kib: 2_000,
            pss_kib: 1_000,
        };
        assert_eq!(
            diff_per_pod(with, idle, 10),
            Mem {
                rss_kib: 1_000,
                pss_kib: 400
            }
        );
        assert_eq!(diff_per_pod(idle, with, 10), Mem::default());
        assert_eq!(diff_per_pod(with, idle, 0).rss_kib, 10_000);
    }
}
