//! Pods that keep running: each a sandbox with one long `sleep` container,
//! started (timed from RunPodSandbox until ContainerStatus says RUNNING) and
//! removed in bulk over a few parallel clients, and a sweep that removes
//! whatever a run left behind, found by its label.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cradle_proto::cri;
use tokio::task::JoinSet;

use crate::client::Cri;
use crate::cri_steps::{self, PodTemplate};

/// The label key every pod and container of a run carries.
pub const RUN_LABEL: &str = "cradle-bench/run";

/// The labels of this run: `cradle-bench/run=<pid>`.
pub fn run_labels() -> HashMap<String, String> {
    HashMap::from([(RUN_LABEL.to_string(), std::process::id().to_string())])
}

/// The long-running command of a fleet pod's container.
pub fn sleep_command() -> Vec<String> {
    vec!["sleep".to_string(), "86400".to_string()]
}

/// A pod whose container was seen RUNNING.
#[derive(Debug, Clone)]
pub struct RunningPod {
    pub pod_id: String,
    pub container_id: String,
    pub config: cri::PodSandboxConfig,
}

/// How long each step of one pod start took.
#[derive(Debug, Clone, Copy)]
pub struct StartTimings {
    pub run_pod: Duration,
    pub create: Duration,
    pub start: Duration,
    /// From StartContainer's return until ContainerStatus says RUNNING.
    pub until_running: Duration,
    /// RunPodSandbox → RUNNING: the sum of the above.
    pub total: Duration,
}

/// RunPodSandbox → CreateContainer → StartContainer → ContainerStatus
/// RUNNING. On a failure after RunPodSandbox the pod is removed (best
/// effort), so a failed start leaves nothing behind.
pub async fn start_pod(
    cri: &mut Cri,
    t: &PodTemplate,
    command: &[String],
) -> anyhow::Result<(RunningPod, StartTimings)> {
    let config = cri_steps::pod_config(t)?;
    let t0 = Instant::now();
    let pod_id = cri_steps::run_pod(cri, t, &config).await?;
    let run_pod = t0.elapsed();
    let mut container = None;
    let steps = async {
        let t1 = Instant::now();
        let id = cri_steps::create(cri, t, &pod_id, &config, command).await?;
        container = Some(id.clone());
        let create = t1.elapsed();
        let t2 = Instant::now();
        cri_steps::start(cri, &id).await?;
        let start = t2.elapsed();
        let t3 = Instant::now();
        let state = cri::ContainerState::ContainerRunning;
        cri_steps::wait_state(cri, &id, state, t.poll, t.exit_timeout).await?;
        Ok::<_, anyhow::Error>((id, create, start, t3.elapsed()))
    }
    .await;
    match steps {
        Ok((container_id, create, start, until_running)) => Ok((
            RunningPod {
                pod_id,
                container_id,
                config,
            },
            StartTimings {
                run_pod,
                create,
                start,
                until_running,
                total: run_pod + create + start + until_running,
            },
        )),
        Err(e) => {
            let _ = cri_steps::teardown(cri, &pod_id, container.as_deref()).await;
            cri_steps::remove_log_dir(t, &config);
            Err(e)
        }
    }
}

/// Stops and removes a pod and its container, and its log directory.
pub async fn remove_pod(cri: &mut Cri, t: &PodTemplate, pod: &RunningPod) -> anyhow::Result<()> {
    cri_steps::teardown(cri, &pod.pod_id, Some(&pod.container_id)).await?;
    cri_steps::remove_log_dir(t, &pod.config);
    Ok(())
}

/// Runs jobs `0..n` over `workers` parallel clients (each a clone of `cri`,
/// doing its jobs one after another); the results in completion order.
/// Dropping the future aborts the workers (no job starts after that).
pub async fn run_jobs<T, F, Fut>(cri: &Cri, n: usize, workers: usize, job: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Cri, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let mut tasks = JoinSet::new();
    for _ in 0..workers.clamp(1, n.max(1)) {
        let (cri, next, job) = (cri.clone(), next.clone(), job.clone());
        tasks.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                done.push(job(cri.clone(), i).await);
            }
            done
        });
    }
    let mut out = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(done) => out.extend(done),
            Err(e) => eprintln!("cradle-bench: a worker failed: {e}"),
        }
    }
    out
}

/// Starts `n` running pods over `workers` clients: the pods, their start
/// timings, and the errors of the starts that failed.
pub async fn start_many(
    cri: &Cri,
    t: &PodTemplate,
    n: usize,
    workers: usize,
) -> (Vec<(RunningPod, StartTimings)>, Vec<String>) {
    let t = Arc::new(t.clone());
    let results = run_jobs(cri, n, workers, move |mut cri, _| {
        let t = t.clone();
        async move { start_pod(&mut cri, &t, &sleep_command()).await }
    })
    .await;
    let mut pods = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(p) => pods.push(p),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    (pods, errors)
}

/// Removes `pods` over `workers` clients; the errors.
pub async fn remove_many(
    cri: &Cri,
    t: &PodTemplate,
    pods: Vec<RunningPod>,
    workers: usize,
) -> Vec<String> {
    let pods = Arc::new(pods);
    let t = Arc::new(t.clone());
    let n = pods.len();
    let results = run_jobs(cri, n, workers, move |mut cri, i| {
        let (pods, t) = (pods.clone(), t.clone());
        async move { remove_pod(&mut cri, &t, &pods[i]).await }
    })
    .await;
    results
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{e:#}")))
        .collect()
}

/// The ids of the pods carrying `labels`.
async fn labelled_pods(
    cri: &mut Cri,
    labels: &HashMap<String, String>,
) -> anyhow::Result<Vec<String>> {
    let filter = cri::PodSandboxFilter {
        label_selector: labels.clone(),
        ..Default::default()
    };
    let items = cri
        .runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest {
            filter: Some(filter),
        })
        .await?
        .into_inner()
        .items;
    Ok(items.into_iter().map(|p| p.id).collect())
}

/// Best effort: stops and removes every pod carrying `labels` (the
/// runtime removes their containers with them). Lists in rounds a couple of
/// seconds apart until two listings in a row come back empty: a start cut
/// short on our side may still finish on the runtime's. Returns how many
/// pods it removed.
pub async fn sweep(cri: &mut Cri, labels: &HashMap<String, String>) -> usize {
    let mut removed = 0;
    let mut empty = 0;
    // Bounded: a few rounds.
    for _ in 0..8 {
        let ids = match labelled_pods(cri, labels).await {
            Ok(ids) => ids,
            Err(e) => {
                eprintln!("cradle-bench: sweep: ListPodSandbox: {e:#}");
                return removed;
            }
        };
        empty = if ids.is_empty() { empty + 1 } else { 0 };
        if empty == 2 {
            break;
        }
        for id in ids {
            match cri_steps::teardown(cri, &id, None).await {
                Ok(_) => removed += 1,
                Err(e) => eprintln!("cradle-bench: sweep: pod {id}: {e:#}"),
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_label_names_this_process() {
        let l = run_labels();
        assert_eq!(l.get(RUN_LABEL), Some(&std::process::id().to_string()));
    }

    #[tokio::test]
    async fn every_job_runs_exactly_once() {
        // No socket is dialled until a call is made: a lazy channel.
        let channel = tonic::transport::Endpoint::from_static("http://[::1]:1").connect_lazy();
        let cri = Cri {
            runtime: cradle_proto::cri::runtime_service_client::RuntimeServiceClient::new(
                channel.clone(),
            ),
            image: cradle_proto::cri::image_service_client::ImageServiceClient::new(channel),
        };
        let mut done = run_jobs(&cri, 25, 4, |_, i| async move { i }).await;
        done.sort();
        assert_eq!(done, (0..25).collect::<Vec<_>>());
        assert!(
            run_jobs(&cri, 0, 4, |_, i| async move { i })
                .await
                .is_empty()
        );
    }
}
