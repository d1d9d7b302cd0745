//! cradle-bench: measures CRI runtimes and OCI launchers side by side, so
//! that Cradle and containerd (or runc, crun and cradle-oci) are compared in
//! one run on one machine. Speed and memory live here, never in timed tests.
//!
//! - `cri`: pod lifecycle latencies over any CRI socket, and the memory of
//!   the runtime's daemon, shims and pause processes from /proc;
//! - `oci`: create+start+wait+delete of a busybox `true` bundle per launcher,
//!   with the peak RSS of each short-lived launcher process (measured through
//!   the small `cradle-bench-rss` trampoline, src/bin/rss.rs);
//! - `pull`: PullImage time and throughput of one image, cold;
//! - `density`: list/stats call latency, memory and CPU at 10, 100, 500…
//!   running pods, with a pod churn beside the calls;
//! - `concurrency`: pod start latency with 1, 8, 32… clients at once;
//! - `compare`: the reports side by side, with the goals of issue 17.
//!
//! `hack/bench.sh` runs them all against cradled and containerd.

mod cells;
mod cgroup_parent;
mod churn;
mod client;
mod compare;
mod compare_fleet;
mod conc_bench;
mod cri_bench;
mod cri_steps;
mod density_bench;
mod disk_usage;
mod fleet;
mod fleet_cli;
mod goals;
mod legacy_cgroups;
mod list_calls;
mod oci_bench;
mod oci_bundle;
mod output;
mod page_cache;
mod procmem;
mod procstat;
mod pull_bench;
mod reap;
mod rss_trampoline;
mod stats;
mod table;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::output::{Output, print};

#[derive(Parser)]
#[command(version, about = "Benchmarks of CRI runtimes and OCI launchers")]
struct Cli {
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Also write the JSON report to this file (the table still prints).
    #[arg(long, global = true, value_name = "FILE")]
    json_out: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Pod lifecycle latencies and runtime memory over a CRI socket.
    Cri(CriArgs),
    /// create+start+wait+delete of a busybox `true` bundle, per OCI launcher.
    Oci(OciArgs),
    /// One side-by-side table from JSON reports (written with --json-out).
    Compare { files: Vec<PathBuf> },
    /// PullImage time and throughput (RemoveImage between pulls).
    Pull(PullArgs),
    /// List/stats latency, memory and CPU at 10, 100, 500… running pods.
    Density(fleet_cli::DensityArgs),
    /// Pod start latency with 1, 8, 32… clients starting pods at once.
    Concurrency(fleet_cli::ConcurrencyArgs),
}

/// `cradle-bench cri`'s arguments.
#[derive(Args)]
struct CriArgs {
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    image: String,
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// Pods run in parallel.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Untimed iterations first (one-time costs such as a pause image pull).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Pull the image even if the runtime has it.
    #[arg(long)]
    pull: bool,
    /// The container's command.
    #[arg(long, num_args = 1.., default_values_t = ["true".to_string()])]
    command: Vec<String>,
    /// Pods share the host network namespace (no CNI needed).
    #[arg(long)]
    host_network: bool,
    /// RuntimeClass handler ("" = default).
    #[arg(long, default_value = "")]
    handler: String,
    /// ContainerStatus polling interval while waiting for EXITED, ms.
    #[arg(long, default_value_t = 5)]
    poll_ms: u64,
    /// Pods with a running `sleep` container for the memory figures (0: skip).
    #[arg(long, default_value_t = 10)]
    memory_pods: usize,
    /// The daemon's pid (default: the owner of the socket).
    #[arg(long)]
    daemon_pid: Option<i32>,
    /// comm prefixes of shim processes.
    #[arg(long, default_values_t = ["cradle-shim".to_string(), "containerd-shim".to_string()])]
    shim_name: Vec<String>,
    /// A shim's command line must contain this (default: the socket's directory).
    #[arg(long)]
    shim_match: Option<String>,
    /// `cgroup_parent` of the pods.
    #[arg(long)]
    cgroup_parent: Option<String>,
}

/// `cradle-bench oci`'s arguments.
#[derive(Args)]
struct OciArgs {
    /// A launcher: binary, optionally followed by global flags in the
    /// same argument ("/usr/bin/crun --cgroup-manager=disabled"). Repeat.
    #[arg(long = "runtime", required = true)]
    runtimes: Vec<String>,
    #[arg(long, default_value_t = 50)]
    iterations: usize,
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Hide the hybrid host's cgroup2 mount from the launchers (a private
    /// mount namespace), so they all see pure cgroup v1 (crun needs it here).
    #[arg(long)]
    legacy_cgroups: bool,
    /// Give the bundle cradled's RuntimeDefault seccomp profile (on
    /// x86_64 for x86_64, x86 and x32), as the kubelet's pods run.
    #[arg(long)]
    seccomp: bool,
    /// The runc used to write the bundle's config (`runc spec`).
    #[arg(long, default_value = "runc")]
    runc: PathBuf,
    /// The measuring trampoline for launcher RSS (default:
    /// cradle-bench-rss next to this executable).
    #[arg(long, value_name = "PATH")]
    rss_trampoline: Option<PathBuf>,
    /// Rounds of the memory pass, run through the trampoline after the
    /// timed ones (default: max(5, iterations / 5)).
    #[arg(long)]
    rss_iterations: Option<usize>,
}

/// `cradle-bench pull`'s arguments.
#[derive(Args)]
struct PullArgs {
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    image: String,
    #[arg(long, default_value_t = 3)]
    iterations: usize,
    /// Bytes one pull moves (sum of compressed blobs), for the throughput.
    #[arg(long)]
    bytes: Option<u64>,
    /// Pause after each RemoveImage, ms.
    #[arg(long, default_value_t = 500)]
    settle_ms: u64,
    /// The runtime's root directory: its disk usage around each pull shows
    /// whether the pulls were cold.
    #[arg(long)]
    root_dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let timeout = Duration::from_secs(300);
    let out = Output {
        json: cli.json,
        json_out: cli.json_out,
    };
    match cli.cmd {
        Cmd::Cri(args) => cri(args, &out, timeout),
        Cmd::Compare { files } => {
            print!("{}", compare::run(&files)?);
            Ok(())
        }
        Cmd::Oci(args) => oci(args, &out),
        Cmd::Pull(args) => pull(args, &out, timeout),
        Cmd::Density(args) => fleet_cli::density(args, &out, timeout),
        Cmd::Concurrency(args) => fleet_cli::concurrency(args, &out, timeout),
    }
}

/// `cradle-bench cri`: the pods' logs in a temp dir and their cgroups under
/// a parent of this run's own, removed afterwards.
fn cri(args: CriArgs, out: &Output, timeout: Duration) -> anyhow::Result<()> {
    let CriArgs {
        endpoint,
        image,
        iterations,
        concurrency,
        warmup,
        pull,
        command,
        host_network,
        handler,
        poll_ms,
        memory_pods,
        daemon_pid,
        shim_name,
        shim_match,
        cgroup_parent,
    } = args;
    let socket = client::socket_path(&endpoint)?;
    let shim_match = shim_match.or_else(|| socket.parent().map(|p| format!("{}/", p.display())));
    let logs = tempfile::Builder::new()
        .prefix("cradle-bench-logs-")
        .tempdir_in("/tmp")?;
    let cgroup_parent = cgroup_parent::choose(cgroup_parent);
    let options = cri_bench::Options {
        endpoint,
        template: cri_steps::PodTemplate {
            image,
            command,
            host_network,
            handler,
            log_root: logs.path().to_path_buf(),
            cgroup_parent: cgroup_parent.clone(),
            poll: Duration::from_millis(poll_ms),
            exit_timeout: Duration::from_secs(60),
            labels: fleet::run_labels(),
        },
        iterations,
        concurrency,
        warmup,
        pull,
        memory_pods,
        daemon_pid,
        shim_names: shim_name,
        shim_match,
        call_timeout: timeout,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt.block_on(cri_bench::run(&options));
    cgroup_parent::remove(&cgroup_parent);
    print(out, &report?, table::cri)
}

/// `cradle-bench oci`: launcher RSS only with a trampoline (one asked for
/// by path must exist), in a cgroup v1 view when asked.
fn oci(args: OciArgs, out: &Output) -> anyhow::Result<()> {
    let OciArgs {
        runtimes,
        iterations,
        warmup,
        legacy_cgroups,
        seccomp,
        runc,
        rss_trampoline: trampoline_path,
        rss_iterations,
    } = args;
    let trampoline = match rss_trampoline::RssTrampoline::find(trampoline_path.as_deref()) {
        Ok(t) => Some(t),
        // Asked for by name: a wrong path is an error.
        Err(why) if trampoline_path.is_some() => anyhow::bail!("--rss-trampoline: {why}"),
        Err(why) => {
            eprintln!(
                "cradle-bench: no RSS trampoline ({why}): launcher RSS is not \
                 measured (build it with `cargo build -p cradle-bench`, or pass \
                 --rss-trampoline PATH)"
            );
            None
        }
    };
    if legacy_cgroups {
        legacy_cgroups::enter()?;
    }
    let launchers: Vec<oci_bench::Launcher> = runtimes
        .iter()
        .filter_map(|r| oci_bench::Launcher::parse(r))
        .collect();
    let options = oci_bench::Options {
        iterations,
        warmup,
        rss_iterations: rss_iterations.unwrap_or((iterations / 5).max(5)),
        trampoline,
        cgroups: if legacy_cgroups { "v1" } else { "host" }.into(),
        seccomp,
    };
    let reports = oci_bench::run(&launchers, &runc, &options)?;
    print(out, &reports, |r| table::oci(r))
}

/// `cradle-bench pull`.
fn pull(args: PullArgs, out: &Output, timeout: Duration) -> anyhow::Result<()> {
    let PullArgs {
        endpoint,
        image,
        iterations,
        bytes,
        settle_ms,
        root_dir,
    } = args;
    let options = pull_bench::Options {
        endpoint,
        image,
        iterations,
        bytes,
        call_timeout: timeout,
        settle: Duration::from_millis(settle_ms),
        root_dir,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt.block_on(pull_bench::run(&options))?;
    print(out, &report, table::pull)
}
