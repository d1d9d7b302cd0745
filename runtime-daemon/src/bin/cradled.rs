//! `cradled`: the CRI daemon. Parses flags, loads the configuration, recovers
//! state, serves the CRI socket until SIGTERM/SIGINT. Containers and their
//! shims keep running when it exits.

use anyhow::Context as _;
use clap::Parser;
use cradle_daemon::core::config::{Config, DEFAULT_CONFIG_FILE, LogFormat, Overrides};
use cradle_daemon::cri::CriService;
use cradle_daemon::runtime::Runtime;
use std::path::PathBuf;

/// Cradle's CRI runtime daemon.
#[derive(Debug, Parser)]
#[command(name = "cradled", version)]
struct Args {
    /// Configuration file (TOML); a missing default file means built-in defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// CRI socket path [default: /run/cradle/cradle.sock].
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Persistent state directory [default: /var/lib/cradle].
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Volatile state directory [default: /run/cradle].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// CNI configuration directory [default: /etc/cni/net.d].
    #[arg(long, value_name = "DIR")]
    cni_conf_dir: Option<PathBuf>,
    /// CNI plugin directories, `:`-separated [default: /opt/cni/bin:/usr/lib/cni].
    #[arg(long, value_name = "DIRS")]
    cni_bin_dir: Option<String>,
    /// A registry (`host[:port]`) spoken to over plain HTTP; repeatable.
    #[arg(long, value_name = "HOST")]
    insecure_registry: Vec<String>,
    /// Log filter, e.g. `info`, `debug`, `cradle_daemon=trace` [default: info].
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Log line format: `text` or `json` [default: text].
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// Print a commented config.toml with every key at its default, and exit.
    #[arg(long, conflicts_with = "validate_config")]
    print_default_config: bool,
    /// Check FILE as the daemon would at start (keys, types, handlers on this
    /// host), print `FILE: ok` or each error with its key and line, and exit
    /// (1 on errors).
    #[arg(long, value_name = "FILE")]
    validate_config: Option<PathBuf>,
}

/// `--validate-config FILE`: the exit status.
fn validate_config(path: &std::path::Path) -> i32 {
    match cradle_daemon::core::config::validate::validate_file(path) {
        Ok(_) => {
            println!("{}: ok", path.display());
            0
        }
        Err(problems) => {
            for problem in problems {
                eprintln!("{problem}");
            }
            1
        }
    }
}

fn load_config(args: Args) -> anyhow::Result<Config> {
    let (path, explicit) = match args.config {
        Some(path) => (path, true),
        None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
    };
    let mut config = Config::load(&path, explicit)?;
    config.apply(Overrides {
        socket: args.socket,
        root: args.root,
        state_dir: args.state_dir,
        cni_conf_dir: args.cni_conf_dir,
        cni_bin_dir: args.cni_bin_dir,
        insecure_registries: args.insecure_registry,
        log_level: args.log_level,
        log_format: args.log_format,
    });
    Ok(config)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => (term, int),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!("installing signal handlers: {e}");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}

fn main() -> anyhow::Result<()> {
    limit_malloc_arenas();
    let args = Args::parse();
    if args.print_default_config {
        use cradle_daemon::core::config::render;
        print!("{}", render::default_config(render::Examples::Commented));
        return Ok(());
    }
    if let Some(path) = &args.validate_config {
        std::process::exit(validate_config(path));
    }
    let config = load_config(args)?;
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .with_context(|| format!("invalid log level {:?}", config.log_level))?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or journal gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log_format {
        // Span fields ride along on each line: the innermost span's (the
        // pod's or container's ids and names) as `span`, every open one's
        // (the rpc's too) as `spans`.
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        LogFormat::Text => logs.init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Blocking work (mounts, CNI, stats passes) is short and bounded by
        // the RPCs in flight; 512 threads (tokio's default cap) would each
        // keep a stack and, before the arena cap, a malloc arena.
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(config))
}

/// Cap of tokio's blocking pool (see `main`).
const MAX_BLOCKING_THREADS: usize = 64;

/// glibc gives every thread that allocates its own malloc arena (up to 8
/// per core) and keeps what an arena once held: after a pull or a burst of
/// blocking work the daemon kept megabytes nobody used (issue 17). Two
/// arenas, and fixed mmap and trim thresholds (glibc otherwise raises them
/// after the first large free, so large buffers stay in the heap), give it
/// back. Must run before any thread starts.
#[cfg(target_env = "gnu")]
fn limit_malloc_arenas() {
    for (option, value) in [
        (libc::M_ARENA_MAX, 2),
        (libc::M_MMAP_THRESHOLD, 128 * 1024),
        (libc::M_TRIM_THRESHOLD, 128 * 1024),
    ] {
        // SAFETY: mallopt only sets allocator parameters; it is called
        // before any other thread exists, so no allocation races it.
        unsafe {
            libc::mallopt(option, value);
        }
    }
}

/// Other C libraries have no glibc arenas to limit.
#[cfg(not(target_env = "gnu"))]
fn limit_malloc_arenas() {}

/// Turns metrics on and serves them at `addr` (issue 16); a bind failure
/// stops cradled naming `metrics_address`.
fn start_metrics(
    addr: std::net::SocketAddr,
) -> anyhow::Result<cradle_daemon::metrics::endpoint::MetricsEndpoint> {
    if !addr.ip().is_loopback() {
        tracing::warn!(
            "metrics_address {addr} is not a loopback address: whoever reaches it reads the node's metrics"
        );
    }
    let metrics = cradle_daemon::metrics::registry::install();
    metrics.add_collector(cradle_daemon::metrics::process::ProcessCollector);
    let endpoint = cradle_daemon::metrics::endpoint::MetricsEndpoint::start(addr, metrics)?;
    tracing::info!("metrics on http://{}/metrics", endpoint.addr());
    Ok(endpoint)
}

async fn run(config: Config) -> anyhow::Result<()> {
    let socket = config.socket.clone();
    tracing::info!(
        socket = %socket.display(),
        root = %config.root.display(),
        state_dir = %config.state_dir.display(),
        "cradled {} starting",
        env!("CARGO_PKG_VERSION")
    );
    let streaming_config = config.streaming.to_config()?;
    // Before any shim is spawned: detached shims are adopted (and reaped)
    // by us, not by the host's init, which may never reap them.
    cradle_daemon::platform::reaper::become_subreaper().context("becoming a child subreaper")?;
    let _reaper = cradle_daemon::platform::reaper::spawn().context("listening for SIGCHLD")?;
    // Before the recovery, so its CNI calls and exits are counted too.
    let metrics = config.metrics_address.map(start_metrics).transpose()?;
    let runtime = Runtime::start(config).await.context("recovering state")?;
    if metrics.is_some() {
        cradle_daemon::metrics::registry::install().add_collector(
            cradle_daemon::metrics::state::StateCollector::new(runtime.clone()),
        );
    }
    let backend = cradle_daemon::streaming::backend::RuntimeBackend::new(runtime.clone());
    let streaming = cradle_streaming::StreamingServer::start(streaming_config, backend).await?;
    tracing::info!("streaming server on {}", streaming.addr());
    let admin_socket = runtime
        .ctx
        .config
        .state_dir
        .join(cradle_daemon::admin::SOCKET_FILE);
    let admin =
        cradle_daemon::admin::AdminServer::start(&admin_socket, std::sync::Arc::clone(&runtime))?;
    tracing::info!("admin socket on {}", admin_socket.display());
    let listener = match cradle_daemon::server::bind(&socket) {
        Ok(listener) => listener,
        Err(e) => {
            admin.stop().await;
            return Err(e.into());
        }
    };
    tracing::info!("serving CRI on {}", socket.display());
    let served = cradle_daemon::server::serve(
        CriService::new(runtime).with_streaming(std::sync::Arc::new(streaming)),
        listener,
        &socket,
        shutdown_signal(),
    )
    .await;
    admin.stop().await;
    if let Some(metrics) = metrics {
        metrics.stop().await;
    }
    served?;
    tracing::info!("stopped; containers keep running");
    Ok(())
}
