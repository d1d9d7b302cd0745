//! `cradle-shim`: the per-container monitor. See [`cradle_shim::shim`].
//!
//! The spawned process returns only when the shim is ready (exit 0) or has
//! failed and cleaned up (exit 1, or [`cradle_proto::shim::EXIT_CREATE_REFUSED`]
//! when the OCI runtime refused the container; reason on stderr); the detached child keeps
//! running until the daemon deletes the container.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use cradle_shim::shim::args::{self, Cli, Mode, Parsed};
use cradle_shim::shim::daemonize::{self, Forked};
use cradle_shim::shim::{ShimError, container, pause_image, sandbox};

fn main() -> ExitCode {
    // The pod's pause process, re-executed bare (see cradle_shim::shim::pause).
    if pause_image::is_pause_invocation() {
        return u8::try_from(pause_image::run()).map_or(ExitCode::FAILURE, ExitCode::from);
    }
    let mut cli = match Cli::parse_env() {
        Ok(Parsed::Run(cli)) => cli,
        Ok(Parsed::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("cradle-shim {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("cradle-shim: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = absolutize(&mut cli.mode) {
        eprintln!("cradle-shim: {error:#}");
        return ExitCode::FAILURE;
    }
    let state_dir = match &cli.mode {
        Mode::Container(args) => args.state_dir.clone(),
        Mode::Sandbox(args) => args.state_dir.clone(),
    };
    let readiness = match daemonize::daemonize(&state_dir) {
        Ok(Forked::Parent { status, message }) => {
            if let Some(message) = message {
                eprintln!("cradle-shim: {message}");
            }
            return match status {
                0 => ExitCode::SUCCESS,
                status => u8::try_from(status).map_or(ExitCode::FAILURE, ExitCode::from),
            };
        }
        Ok(Forked::Child(readiness)) => readiness,
        Err(error) => {
            eprintln!("cradle-shim: {error}");
            return ExitCode::FAILURE;
        }
    };
    cradle_shim::diag!("starting: {:?}", cli.mode);
    let monitor = match &cli.mode {
        Mode::Container(args) => container::setup(args),
        Mode::Sandbox(args) => sandbox::setup(args),
    };
    let monitor = match monitor {
        Ok(monitor) => monitor,
        Err(error) => {
            cradle_shim::diag!("set-up failed: {error}");
            match error {
                ShimError::CreateRefused { .. } => readiness.refused(&error.to_string()),
                _ => readiness.failed(&error.to_string()),
            }
            return ExitCode::FAILURE;
        }
    };
    readiness.ready();
    match monitor.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            cradle_shim::diag!("fatal: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Make every path absolute (the shim runs on after its caller's cwd is
/// irrelevant) and create the state directory.
fn absolutize(mode: &mut Mode) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let abs = |path: &mut PathBuf| {
        if path.is_relative() {
            *path = cwd.join(&*path);
        }
    };
    let state_dir = match mode {
        Mode::Container(args) => {
            abs(&mut args.bundle);
            abs(&mut args.runtime_root);
            abs(&mut args.state_dir);
            if let Some(path) = args.log_path.as_mut() {
                abs(path);
            }
            // A bare runtime name is looked up in PATH, as the runtime would be.
            if args.runtime.components().count() > 1 {
                abs(&mut args.runtime);
            }
            args.state_dir.clone()
        }
        Mode::Sandbox(args) => {
            abs(&mut args.state_dir);
            abs(&mut args.netns);
            abs(&mut args.ipcns);
            abs(&mut args.utsns);
            args.state_dir.clone()
        }
    };
    create_state_dir(&state_dir)
}

fn create_state_dir(path: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating state dir {}", path.display()))
}
