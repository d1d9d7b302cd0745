//! The `density` and `concurrency` subcommands: their arguments, the pod
//! template they share, and the run wrapped so that its pods are swept
//! (by label) after an error, SIGINT or SIGTERM.

use std::future::Future;
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;

use crate::cgroup_parent;
use crate::client::{Cri, socket_path};
use crate::conc_bench;
use crate::cri_steps::PodTemplate;
use crate::density_bench;
use crate::fleet;
use crate::output::{Output, print};
use crate::table;

/// What every pod of a run looks like, and where they go.
#[derive(Args, Debug, Clone)]
pub struct PodArgs {
    #[arg(long)]
    endpoint: String,
    /// The image of the `sleep` containers (busybox).
    #[arg(long)]
    image: String,
    /// Pods share the host network namespace (no CNI needed).
    #[arg(long)]
    host_network: bool,
    /// RuntimeClass handler ("" = default).
    #[arg(long, default_value = "")]
    handler: String,
    /// `cgroup_parent` of the pods (default: /cradle-bench-<pid>, removed after).
    #[arg(long)]
    cgroup_parent: Option<String>,
    /// ContainerStatus polling interval while waiting for RUNNING, ms.
    #[arg(long, default_value_t = 5)]
    poll_ms: u64,
}

/// `cradle-bench density`'s arguments.
#[derive(Args, Debug, Clone)]
pub struct DensityArgs {
    #[command(flatten)]
    pods: PodArgs,
    /// Running pods at each level.
    #[arg(long, value_delimiter = ',', default_values_t = [10, 100, 500])]
    levels: Vec<usize>,
    /// Calls of each list/stats rpc per level, back to back.
    #[arg(long, default_value_t = 200)]
    calls: usize,
    /// At most this many seconds of calls per rpc and level.
    #[arg(long, default_value_t = 30)]
    rpc_budget_s: u64,
    /// Pods started and removed per second beside the calls (0: none).
    #[arg(long, default_value_t = 1.0)]
    churn_per_sec: f64,
    /// Parallel clients bringing the runtime to a level (and tearing down).
    #[arg(long, default_value_t = 4)]
    create_concurrency: usize,
    /// Pause before the memory is read at each level, ms.
    #[arg(long, default_value_t = 2000)]
    settle_ms: u64,
    /// The daemon's pid (default: the owner of the socket).
    #[arg(long)]
    daemon_pid: Option<i32>,
    /// comm prefixes of shim processes.
    #[arg(long, default_values_t = ["cradle-shim".to_string(), "containerd-shim".to_string()])]
    shim_name: Vec<String>,
    /// A shim's command line must contain this (default: the socket's directory).
    #[arg(long)]
    shim_match: Option<String>,
}

/// `cradle-bench concurrency`'s arguments.
#[derive(Args, Debug, Clone)]
pub struct ConcurrencyArgs {
    #[command(flatten)]
    pods: PodArgs,
    /// Parallel clients at each level.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 32])]
    levels: Vec<usize>,
    /// Pods each client starts, one after another.
    #[arg(long, default_value_t = 10)]
    pods_per_client: usize,
    /// Parallel clients removing a level's pods.
    #[arg(long, default_value_t = 4)]
    teardown_concurrency: usize,
}

/// The template, its log directory (removed when dropped) and cgroup parent.
fn template(a: &PodArgs) -> anyhow::Result<(PodTemplate, tempfile::TempDir)> {
    let logs = tempfile::Builder::new()
        .prefix("cradle-bench-logs-")
        .tempdir_in("/tmp")?;
    let t = PodTemplate {
        image: a.image.clone(),
        command: fleet::sleep_command(),
        host_network: a.host_network,
        handler: a.handler.clone(),
        log_root: logs.path().to_path_buf(),
        cgroup_parent: cgroup_parent::choose(a.cgroup_parent.clone()),
        poll: Duration::from_millis(a.poll_ms),
        exit_timeout: Duration::from_secs(60),
        labels: fleet::run_labels(),
    };
    Ok((t, logs))
}

/// Resolves on the first SIGINT or SIGTERM with the signal's name (never,
/// if the handlers cannot be installed).
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Runs `bench` until it ends or a signal cuts it short, then sweeps the
/// run's labelled pods (a second signal abandons the sweep).
async fn guarded<T>(
    endpoint: &str,
    timeout: Duration,
    bench: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let result = tokio::select! {
        r = bench => r,
        sig = interrupted() => Err(anyhow!("interrupted by {sig}")),
    };
    let sweep = async {
        let mut cri = Cri::connect(endpoint, timeout).await?;
        Ok::<_, anyhow::Error>(fleet::sweep(&mut cri, &fleet::run_labels()).await)
    };
    let swept = tokio::select! {
        r = sweep => r,
        sig = interrupted() => Err(anyhow!("sweep abandoned on {sig}")),
    };
    match swept {
        Ok(0) => {}
        Ok(n) => eprintln!("cradle-bench: removed {n} pods left behind"),
        Err(e) => eprintln!("cradle-bench: cleanup: {e:#}"),
    }
    result
}

/// `cradle-bench density`.
pub fn density(a: DensityArgs, out: &Output, timeout: Duration) -> anyhow::Result<()> {
    let (template, _logs) = template(&a.pods)?;
    let cgroup = template.cgroup_parent.clone();
    let socket = socket_path(&a.pods.endpoint)?;
    let shim_match = a
        .shim_match
        .or_else(|| socket.parent().map(|p| format!("{}/", p.display())));
    let o = density_bench::Options {
        endpoint: a.pods.endpoint.clone(),
        template,
        levels: a.levels,
        calls: a.calls,
        rpc_budget: Duration::from_secs(a.rpc_budget_s),
        churn_per_s: a.churn_per_sec,
        create_concurrency: a.create_concurrency,
        settle: Duration::from_millis(a.settle_ms),
        daemon_pid: a.daemon_pid,
        shim_names: a.shim_name,
        shim_match,
        call_timeout: timeout,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt.block_on(guarded(&o.endpoint, timeout, density_bench::run(&o)));
    cgroup_parent::remove(&cgroup);
    print(out, &report?, table::density)
}

/// `cradle-bench concurrency`.
pub fn concurrency(a: ConcurrencyArgs, out: &Output, timeout: Duration) -> anyhow::Result<()> {
    let (template, _logs) = template(&a.pods)?;
    let cgroup = template.cgroup_parent.clone();
    let o = conc_bench::Options {
        endpoint: a.pods.endpoint.clone(),
        template,
        levels: a.levels,
        pods_per_client: a.pods_per_client,
        teardown_concurrency: a.teardown_concurrency,
        call_timeout: timeout,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt.block_on(guarded(&o.endpoint, timeout, conc_bench::run(&o)));
    cgroup_parent::remove(&cgroup);
    print(out, &report?, table::concurrency)
}
