//! `cradle-oci`: Cradle's runc-compatible OCI runtime command line.
//! The verbs live in `cradle_shim::oci`; this file only parses arguments,
//! sets up logging and turns errors into a message and exit status 1.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use cradle_shim::oci::{self, create::CreateOptions, log};

#[derive(Parser)]
#[command(
    name = "cradle-oci",
    version,
    about = "Cradle's OCI runtime (runc-compatible CLI)"
)]
struct Cli {
    /// Directory for container state.
    #[arg(long, global = true, default_value = oci::DEFAULT_ROOT)]
    root: PathBuf,
    /// Write warnings and errors to this file instead of stderr.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of the log file.
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// The systemd cgroup driver: refused (cgroupfs is the only driver),
    /// with a message saying why.
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility.
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a container (its process waits for `start`).
    Create {
        /// Bundle directory holding config.json.
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        /// Write the init's pid here.
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        /// Unix socket that receives the pty master (process.terminal).
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        /// Pass N more descriptors (3..3+N) to the container's process.
        #[arg(long = "preserve-fds", default_value_t = 0)]
        preserve_fds: u32,
        /// Use MS_MOVE + chroot instead of pivot_root.
        #[arg(long = "no-pivot")]
        no_pivot: bool,
        /// Container id.
        id: String,
    },
    /// Create and start a container, then wait for it and delete it
    /// (exits with its status) unless --detach.
    Run {
        /// Bundle directory holding config.json.
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        /// Write the init's pid here.
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        /// Unix socket that receives the pty master (process.terminal).
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        /// Pass N more descriptors (3..3+N) to the container's process.
        #[arg(long = "preserve-fds", default_value_t = 0)]
        preserve_fds: u32,
        /// Use MS_MOVE + chroot instead of pivot_root.
        #[arg(long = "no-pivot")]
        no_pivot: bool,
        /// Return once the container runs.
        #[arg(long, short = 'd')]
        detach: bool,
        /// Container id.
        id: String,
    },
    /// Start a created container.
    Start { id: String },
    /// Freeze every process of a running container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Print the OCI state JSON.
    State { id: String },
    /// Send a signal (default TERM) to the container.
    Kill {
        /// Signal every process of the container's cgroup.
        #[arg(long, short = 'a')]
        all: bool,
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Delete a stopped container (or any with --force).
    Delete {
        #[arg(long, short = 'f')]
        force: bool,
        id: String,
    },
    /// Run a process in a running container; exits with its status.
    Exec {
        /// A full OCI process JSON (instead of COMMAND).
        #[arg(long, short = 'p')]
        process: Option<PathBuf>,
        /// Run on a new pty, sent to --console-socket.
        #[arg(long, short = 't')]
        tty: bool,
        /// Unix socket that receives the pty master in terminal mode.
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        /// Return once the process runs.
        #[arg(long, short = 'd')]
        detach: bool,
        /// Write the process's pid here.
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        /// Pass N more descriptors (3..3+N) to the container's process.
        #[arg(long = "preserve-fds", default_value_t = 0)]
        preserve_fds: u32,
        /// Working directory inside the container.
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Extra environment variables (K=V), repeatable.
        #[arg(long, short = 'e')]
        env: Vec<String>,
        /// UID[:GID] to run as.
        #[arg(long, short = 'u')]
        user: Option<String>,
        /// Container id.
        id: String,
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Apply new resource limits (an OCI LinuxResources JSON) to the container's cgroup.
    Update {
        /// The JSON file, or `-` for stdin.
        #[arg(long, short = 'r')]
        resources: PathBuf,
        id: String,
    },
    /// List the pids of the container's processes (as JSON with --format json).
    Ps {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        id: String,
    },
    /// Print the OCI features JSON.
    Features,
    /// List containers in --root.
    List {
        /// Print only the ids.
        #[arg(long, short = 'q')]
        quiet: bool,
        /// `table` or `json`.
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
    },
}

fn main() {
    let cli = Cli::parse();
    // The verbs that start processes in a container run from a sealed
    // copy of this binary (CVE-2019-5736; see `oci::sealed_exe`).
    if matches!(
        cli.cmd,
        Cmd::Create { .. } | Cmd::Run { .. } | Cmd::Exec { .. }
    ) && let Err(e) = oci::sealed_exe::ensure_sealed()
    {
        eprintln!("cradle-oci: {e}");
        std::process::exit(1);
    }
    let file = cli.log.as_ref().and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    let format = match cli.log_format {
        LogFormat::Text => log::Format::Text,
        LogFormat::Json => log::Format::Json,
    };
    let to_file = file.is_some();
    log::init(file, format);
    if let Err(e) = run(cli) {
        let msg = format!("{e:#}");
        log::error(&msg);
        if to_file {
            eprintln!("cradle-oci: {msg}");
        }
        std::process::exit(1);
    }
}

/// `--systemd-cgroup` asks for a driver this runtime does not have; a
/// container placed by cgroupfs instead would be a silent lie, so every
/// verb but `features` refuses it, saying why.
fn check_cgroup_driver(systemd_cgroup: bool, cmd: &Cmd) -> Result<()> {
    if !systemd_cgroup || matches!(cmd, Cmd::Features) {
        return Ok(());
    }
    if !std::path::Path::new("/run/systemd/system").exists() {
        anyhow::bail!(
            "--systemd-cgroup: systemd is not running on this host (no /run/systemd/system); \
             use the cgroupfs driver (drop the flag)"
        );
    }
    anyhow::bail!(
        "--systemd-cgroup: cradle-oci has only the cgroupfs driver; drop the flag \
         (and give linux.cgroupsPath as a path)"
    )
}

fn run(cli: Cli) -> Result<()> {
    // --debug only raises runc's log level; our log has one level.
    let _ = cli.debug;
    check_cgroup_driver(cli.systemd_cgroup, &cli.cmd)?;
    let root = cli.root;
    match cli.cmd {
        Cmd::Create {
            bundle,
            pid_file,
            console_socket,
            preserve_fds,
            no_pivot,
            id,
        } => oci::create::create(&CreateOptions {
            root,
            id: id.clone(),
            bundle,
            pid_file,
            console_socket,
            no_pivot,
            preserve_fds,
        })
        .with_context(|| format!("create {id}"))?,
        Cmd::Run {
            bundle,
            pid_file,
            console_socket,
            preserve_fds,
            no_pivot,
            detach,
            id,
        } => {
            let code = oci::run::run(
                &CreateOptions {
                    root,
                    id: id.clone(),
                    bundle,
                    pid_file,
                    console_socket,
                    no_pivot,
                    preserve_fds,
                },
                detach,
            )
            .with_context(|| format!("run {id}"))?;
            if code != 0 {
                std::process::exit(code);
            }
        }
        Cmd::Start { id } => {
            oci::start::start(&root, &id).with_context(|| format!("start {id}"))?
        }
        Cmd::Pause { id } => {
            oci::pause::pause(&root, &id).with_context(|| format!("pause {id}"))?
        }
        Cmd::Resume { id } => {
            oci::pause::resume(&root, &id).with_context(|| format!("resume {id}"))?
        }
        Cmd::State { id } => {
            let st = oci::state::ContainerState::load(&root, &id)?;
            let status = st.status(&root)?;
            println!("{}", serde_json::to_string_pretty(&st.oci_json(status))?);
        }
        Cmd::Kill { all, id, signal } => {
            let sig = oci::kill::parse_signal(&signal)?;
            oci::kill::kill(&root, &id, sig, all).with_context(|| format!("kill {id}"))?;
        }
        Cmd::Delete { force, id } => {
            oci::delete::delete(&root, &id, force).with_context(|| format!("delete {id}"))?
        }
        Cmd::Exec {
            process,
            tty,
            console_socket,
            detach,
            pid_file,
            preserve_fds,
            cwd,
            env,
            user,
            id,
            command,
        } => {
            let code = oci::exec::exec(&oci::exec::ExecOptions {
                root,
                id: id.clone(),
                process,
                args: command,
                env,
                cwd,
                user,
                tty,
                console_socket,
                detach,
                pid_file,
                preserve_fds,
            })
            .with_context(|| format!("exec in {id}"))?;
            if code != 0 {
                std::process::exit(code);
            }
        }
        Cmd::Update { resources, id } => {
            oci::update::update(&root, &id, &resources).with_context(|| format!("update {id}"))?
        }
        Cmd::Ps { format, id } => {
            let pids = oci::update::processes(&root, &id).with_context(|| format!("ps {id}"))?;
            if format == "json" {
                println!("{}", serde_json::to_string(&pids)?);
            } else {
                println!("PID");
                for p in pids {
                    println!("{p}");
                }
            }
        }
        Cmd::Features => println!(
            "{}",
            serde_json::to_string_pretty(&oci::features::features())?
        ),
        Cmd::List { quiet, format } => list(&root, quiet, &format)?,
    }
    Ok(())
}

fn list(root: &std::path::Path, quiet: bool, format: &str) -> Result<()> {
    let mut states = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if let Ok(st) = oci::state::ContainerState::load(root, &id) {
                let status = st.status(root)?;
                states.push((st, status));
            }
        }
    }
    states.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    if quiet {
        for (st, _) in &states {
            println!("{}", st.id);
        }
    } else if format == "json" {
        let all: Vec<_> = states
            .iter()
            .map(|(st, status)| st.oci_json(*status))
            .collect();
        println!("{}", serde_json::to_string(&all)?);
    } else {
        println!("{:<64} {:<8} {:<8} BUNDLE", "ID", "PID", "STATUS");
        for (st, status) in &states {
            let pid = if *status == oci::state::Status::Stopped {
                0
            } else {
                st.pid
            };
            println!(
                "{:<64} {:<8} {:<8} {}",
                st.id,
                pid,
                status.as_str(),
                st.bundle.display()
            );
        }
    }
    Ok(())
}
