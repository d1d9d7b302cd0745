//! `cradle-oci`: Cradle's runc-compatible OCI runtime command line.
//! The verbs live in `cradle_shim::oci`; this file only parses arguments,
//! sets up logging and turns errors into a message and exit status 1.
//! The process starts in `entry` (glibc's `main`, without std's runtime
//! start-up, which costs a launcher that lives milliseconds pages and time).

// The unit tests' harness brings its own `main`.
#![cfg_attr(not(test), no_main)]

mod args;
#[cfg(not(test))]
mod entry;

use anyhow::{Context, Result};
use args::{Cli, Cmd, CreateArgs, LogFormat};
use cradle_shim::oci::{self, log, verbs::create::CreateOptions};

fn main() {
    let cli = match args::parse_env() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("cradle-oci: {e}");
            std::process::exit(1);
        }
    };
    // The verbs that start processes in a container run from a sealed
    // copy of this binary (CVE-2019-5736; see `oci::sealed_exe`).
    if matches!(cli.cmd, Cmd::Create(_) | Cmd::Run { .. } | Cmd::Exec(_))
        && let Err(e) = oci::security::sealed_exe::ensure_sealed()
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

fn run(cli: Cli) -> Result<()> {
    let root = cli.root;
    let systemd = cli.systemd_cgroup;
    match cli.cmd {
        Cmd::Help(text) => print!("{text}"),
        Cmd::Version => println!(
            "cradle-oci version {}\nspec: {}",
            env!("CARGO_PKG_VERSION"),
            oci::verbs::features::OCI_VERSION_MAX
        ),
        Cmd::Create(args) => {
            let id = args.id.clone();
            oci::verbs::create::create(&create_options(root, args, systemd))
                .with_context(|| format!("create {id}"))?
        }
        Cmd::Run { create, detach } => {
            let id = create.id.clone();
            let code = oci::verbs::run::run(&create_options(root, create, systemd), detach)
                .with_context(|| format!("run {id}"))?;
            if code != 0 {
                std::process::exit(code);
            }
        }
        Cmd::Start { id } => {
            oci::verbs::start::start(&root, &id).with_context(|| format!("start {id}"))?
        }
        Cmd::Pause { id } => {
            oci::verbs::pause::pause(&root, &id).with_context(|| format!("pause {id}"))?
        }
        Cmd::Resume { id } => {
            oci::verbs::pause::resume(&root, &id).with_context(|| format!("resume {id}"))?
        }
        Cmd::State { id } => println!(
            "{}",
            serde_json::to_string_pretty(&oci::verbs::state::state(&root, &id)?)?
        ),
        Cmd::Kill { all, id, signal } => {
            let sig = oci::verbs::kill::parse_signal(&signal)?;
            oci::verbs::kill::kill(&root, &id, sig, all).with_context(|| format!("kill {id}"))?;
        }
        Cmd::Delete { force, id } => {
            oci::verbs::delete::delete(&root, &id, force).with_context(|| format!("delete {id}"))?
        }
        Cmd::Exec(e) => exec(root, e)?,
        Cmd::Update { resources, id } => oci::verbs::update::update(&root, &id, &resources)
            .with_context(|| format!("update {id}"))?,
        Cmd::Ps { format, id } => ps(&root, &id, &format)?,
        Cmd::Features => println!(
            "{}",
            serde_json::to_string_pretty(&oci::verbs::features::features())?
        ),
        Cmd::List { quiet, format } => list(&root, quiet, &format)?,
        Cmd::Spec { bundle, rootless } => oci::verbs::spec::write(&bundle, rootless)
            .with_context(|| format!("spec in {}", bundle.display()))?,
    }
    Ok(())
}

/// `create`'s options; `systemd` is `--systemd-cgroup` (the other verbs
/// find the driver a container was created with in its state).
fn create_options(root: std::path::PathBuf, a: CreateArgs, systemd: bool) -> CreateOptions {
    CreateOptions {
        root,
        id: a.id,
        bundle: a.bundle,
        pid_file: a.pid_file,
        console_socket: a.console_socket,
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        systemd_cgroup: systemd,
    }
}

fn list(root: &std::path::Path, quiet: bool, format: &str) -> Result<()> {
    let states = oci::verbs::state::list(root)?;
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

/// `exec`: exits with the process's status when it is not 0.
fn exec(root: std::path::PathBuf, e: args::ExecArgs) -> Result<()> {
    let id = e.id.clone();
    let code = oci::verbs::exec::exec(&oci::verbs::exec::ExecOptions {
        root,
        id: e.id,
        process: e.process,
        args: e.command,
        env: e.env,
        cwd: e.cwd,
        user: e.user,
        tty: e.tty,
        console_socket: e.console_socket,
        detach: e.detach,
        pid_file: e.pid_file,
        preserve_fds: e.preserve_fds,
        apparmor: e.apparmor,
        process_label: e.process_label,
    })
    .with_context(|| format!("exec in {id}"))?;
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

/// `ps`: the container's pids, as JSON or one per line.
fn ps(root: &std::path::Path, id: &str, format: &str) -> Result<()> {
    let pids = oci::verbs::update::processes(root, id).with_context(|| format!("ps {id}"))?;
    if format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
    } else {
        println!("PID");
        for p in pids {
            println!("{p}");
        }
    }
    Ok(())
}
