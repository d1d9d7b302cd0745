//! `cradlectl`: a CRI client for operators of a running `cradled` (or any
//! CRI runtime), without crictl. Lists print as tables by default and as
//! the CRI response with `-o json|yaml`. `images import`, `images export`
//! and the progress line of `pull` go through cradled's admin socket (root
//! only), since the image store is not reachable over the CRI.

mod admin_socket;
mod check;
mod clock;
mod connect;
mod containers;
mod events;
mod exec_tty;
mod gc;
mod images;
mod kv;
mod logs;
mod output;
mod pods;
mod runtime;
mod stats;
mod table;

use clap::{Parser, Subcommand};
use output::Format;
use std::path::PathBuf;

/// A CRI client for operators of cradled (or any CRI runtime): tables,
/// logs, exec, stats, events, and the node's check and image gc.
#[derive(Debug, Parser)]
#[command(name = "cradlectl", version)]
struct Args {
    /// CRI socket path.
    #[arg(long, default_value = "/run/cradle/cradle.sock")]
    socket: PathBuf,
    /// cradled's admin socket (`<state-dir>/admin.sock`), for image import,
    /// export and pull progress.
    #[arg(long, default_value = "/run/cradle/admin.sock")]
    admin_socket: PathBuf,
    /// Output format: a table for lists (default), or the CRI response as
    /// json or yaml.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t)]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runtime name and versions.
    Version,
    /// Runtime conditions (verbose).
    Info,
    /// Pull an image; prints its id. Shows download progress on stderr when
    /// it is a terminal.
    Pull { image: String },
    /// List images, or import / export image archives.
    Images {
        #[command(subcommand)]
        action: Option<images::ImagesCommand>,
    },
    /// Image status, with the runtime's verbose info.
    Inspecti { image: String },
    /// Remove an image.
    Rmi { image: String },
    /// Run a pod sandbox; prints its id.
    Runp(pods::RunPod),
    /// List pod sandboxes.
    Pods,
    /// Pod sandbox status, with the runtime's verbose info.
    Inspectp { id: String },
    /// Stop a pod sandbox.
    Stopp { id: String },
    /// Remove a pod sandbox.
    Rmp { id: String },
    /// Create a container in a pod; prints its id.
    Create(containers::CreateContainer),
    /// Start a container.
    Start { id: String },
    /// Stop a container.
    Stop {
        id: String,
        #[arg(long, short, default_value_t = 10)]
        timeout: i64,
    },
    /// Remove a container.
    Rm { id: String },
    /// List running containers (`-a`: all of them).
    Ps {
        /// Show exited and created containers too.
        #[arg(long, short)]
        all: bool,
    },
    /// Container status, with the runtime's verbose info.
    Inspect { id: String },
    /// A container's log.
    Logs(logs::Logs),
    /// Resource usage of running containers, CPU % over an interval.
    Stats(stats::Stats),
    /// Change a container's CPU and memory limits.
    Update(containers::Update),
    /// Follow container lifecycle events until interrupted.
    Events,
    /// Check this node for Cradle: kernel, overlayfs, namespaces, seccomp,
    /// cgroups, LSMs, CNI, the CRI socket, disk space; each problem with
    /// what to fix. Exits 1 when a check fails.
    Check(check::CheckArgs),
    /// Remove images no container uses, then orphan blobs and layer
    /// snapshots (admin socket, root only).
    Gc {
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run a command in a container and print its output; with `-i`/`-t`
    /// interactively through the streaming server, exiting with its code.
    Exec {
        id: String,
        #[arg(long, default_value_t = 0)]
        timeout: i64,
        #[command(flatten)]
        interactive: exec_tty::Interactive,
        #[arg(last = true)]
        cmd: Vec<String>,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match run(Args::parse()).await {
        // A reader that went away (`cradlectl logs -f | head`) ends us
        // quietly, as it does cat.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        result => result,
    }
}

/// Whether `err` is a write to a closed pipe, anywhere in its chain.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn run(args: Args) -> anyhow::Result<()> {
    let format = args.output;
    if let Command::Check(check) = args.command {
        if check::run(check, format)? {
            std::process::exit(1);
        }
        return Ok(());
    }
    if let Command::Gc { dry_run } = args.command {
        return gc::run(&args.admin_socket, dry_run, format).await;
    }
    if let Command::Images {
        action: Some(action),
    } = args.command
    {
        return images::action(&args.admin_socket, action).await;
    }
    let (mut rt, mut img) = connect::clients(args.socket).await?;
    match args.command {
        Command::Version => runtime::version(&mut rt, format).await,
        Command::Info => runtime::info(&mut rt, format).await,
        Command::Pull { image } => images::pull_image(&mut img, image, &args.admin_socket).await,
        Command::Images { .. } => images::list(&mut img, format).await,
        Command::Inspecti { image } => images::status(&mut img, image, format).await,
        Command::Rmi { image } => images::remove(&mut img, image).await,
        Command::Runp(pod) => pods::run(&mut rt, pod).await,
        Command::Pods => pods::list(&mut rt, format).await,
        Command::Inspectp { id } => pods::status(&mut rt, id, format).await,
        Command::Stopp { id } => pods::stop(&mut rt, id).await,
        Command::Rmp { id } => pods::remove(&mut rt, id).await,
        Command::Create(container) => containers::create(&mut rt, container).await,
        Command::Start { id } => containers::start(&mut rt, id).await,
        Command::Stop { id, timeout } => containers::stop(&mut rt, id, timeout).await,
        Command::Rm { id } => containers::remove(&mut rt, id).await,
        Command::Ps { all } => containers::list(&mut rt, all, format).await,
        Command::Inspect { id } => containers::status(&mut rt, id, format).await,
        Command::Logs(logs) => logs::run(&mut rt, logs).await,
        Command::Stats(stats) => stats::run(&mut rt, stats, format).await,
        Command::Update(update) => containers::update(&mut rt, update).await,
        Command::Events => events::follow(&mut rt, format).await,
        Command::Check(_) | Command::Gc { .. } => anyhow::bail!("answered before connecting"),
        Command::Exec {
            id,
            cmd,
            interactive,
            ..
        } if interactive.wanted() => exec_tty::run(&mut rt, id, cmd, interactive).await,
        Command::Exec {
            id, timeout, cmd, ..
        } => containers::exec_sync(&mut rt, id, timeout, cmd).await,
    }
}
