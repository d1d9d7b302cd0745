//! `cradle-bench concurrency`: pod start latency (RunPodSandbox →
//! CreateContainer → StartContainer → ContainerStatus RUNNING) with 1, 8,
//! 32… clients starting pods at once, each client K pods one after another.
//! A level's pods keep running until the level ends (a node taking a burst
//! of pods), then are removed before the next level.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Serialize;

use crate::client::Cri;
use crate::cri_bench;
use crate::cri_steps::PodTemplate;
use crate::fleet::{self, StartTimings};
use crate::stats::Summary;

/// Options of a `concurrency` run.
#[derive(Debug, Clone)]
pub struct Options {
    pub endpoint: String,
    pub template: PodTemplate,
    /// Parallel clients at each level.
    pub levels: Vec<usize>,
    pub pods_per_client: usize,
    /// Parallel clients removing a level's pods.
    pub teardown_concurrency: usize,
    pub call_timeout: Duration,
}

/// One level's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    pub clients: usize,
    pub pods: usize,
    pub failures: usize,
    pub first_errors: Vec<String>,
    pub wall_s: f64,
    /// Pods that reached RUNNING per second of the level's wall time.
    pub pods_per_s: f64,
    /// RunPodSandbox → RUNNING.
    pub start: Option<Summary>,
    /// The steps of it, in order.
    pub phases: Vec<(String, Summary)>,
    pub teardown_s: f64,
}

/// Everything a `concurrency` run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// "concurrency": what `compare` recognises.
    pub kind: String,
    pub endpoint: String,
    pub runtime: String,
    pub image: String,
    pub pods_per_client: usize,
    pub levels: Vec<Level>,
}

/// Pods per second; 0 for no time.
pub fn rate(pods: usize, wall_s: f64) -> f64 {
    if wall_s > 0.0 {
        pods as f64 / wall_s
    } else {
        0.0
    }
}

fn phases(t: &[StartTimings]) -> Vec<(String, Summary)> {
    type Pick = fn(&StartTimings) -> Duration;
    let picks: [(&str, Pick); 4] = [
        ("RunPodSandbox", |t| t.run_pod),
        ("CreateContainer", |t| t.create),
        ("StartContainer", |t| t.start),
        ("start -> RUNNING seen", |t| t.until_running),
    ];
    picks
        .iter()
        .filter_map(|(name, pick)| {
            let v: Vec<Duration> = t.iter().map(pick).collect();
            Summary::of(&v).map(|s| (name.to_string(), s))
        })
        .collect()
}

async fn level(cri: &Cri, o: &Options, clients: usize) -> Level {
    let n = clients * o.pods_per_client;
    let t0 = Instant::now();
    let (started, errors) = fleet::start_many(cri, &o.template, n, clients).await;
    let wall_s = t0.elapsed().as_secs_f64();
    let timings: Vec<StartTimings> = started.iter().map(|(_, t)| *t).collect();
    let totals: Vec<Duration> = timings.iter().map(|t| t.total).collect();
    let pods: Vec<_> = started.into_iter().map(|(p, _)| p).collect();
    let t1 = Instant::now();
    let teardown_errors = fleet::remove_many(cri, &o.template, pods, o.teardown_concurrency).await;
    let mut first_errors: Vec<String> = errors.iter().take(3).cloned().collect();
    first_errors.extend(teardown_errors.into_iter().take(1));
    Level {
        clients,
        pods: totals.len(),
        failures: errors.len(),
        first_errors,
        wall_s,
        pods_per_s: rate(totals.len(), wall_s),
        start: Summary::of(&totals),
        phases: phases(&timings),
        teardown_s: t1.elapsed().as_secs_f64(),
    }
}

/// The whole benchmark. Its pods carry the template's labels: after an
/// error or an interruption the caller sweeps them ([`fleet::sweep`]).
pub async fn run(o: &Options) -> anyhow::Result<Report> {
    if o.levels.iter().all(|&c| c == 0) || o.pods_per_client == 0 {
        bail!(
            "nothing to run: levels {:?}, {} pods per client",
            o.levels,
            o.pods_per_client
        );
    }
    let mut cri = Cri::connect(&o.endpoint, o.call_timeout).await?;
    let runtime = cri_bench::version(&mut cri).await;
    cri_bench::ensure_image(&mut cri, &o.template.image, false).await?;
    // Warm-up: one pod pays the one-time costs (a pause image pull).
    let (warm, _) = fleet::start_pod(&mut cri, &o.template, &fleet::sleep_command()).await?;
    fleet::remove_pod(&mut cri, &o.template, &warm).await?;
    let mut levels = Vec::new();
    for &clients in o.levels.iter().filter(|&&c| c > 0) {
        levels.push(level(&cri, o, clients).await);
    }
    Ok(Report {
        kind: "concurrency".into(),
        endpoint: o.endpoint.clone(),
        runtime,
        image: o.template.image.clone(),
        pods_per_client: o.pods_per_client,
        levels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_pods_per_second_and_zero_without_time() {
        assert_eq!(rate(64, 8.0), 8.0);
        assert_eq!(rate(5, 0.0), 0.0);
    }
}
