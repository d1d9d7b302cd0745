//! Setting up container mode: socket, pid file, log, stdio pipes (a stdin
//! pipe with `--stdin`) and `<runtime> create`. Every step registers its
//! undo, so a failed set-up leaves nothing behind: no runtime state, no
//! socket, no pid files.

use std::fs;
use std::path::Path;

use cradle_proto::shim::{ATTACH_SOCKET_FILE, INIT_PID_FILE, SHIM_PID_FILE, SOCKET_FILE};
use nix::fcntl::OFlag;
use nix::unistd;

use super::ShimError;
use super::args::ContainerArgs;
use super::logger::{self, CriLog};
use super::monitor::Monitor;
use super::oom::OomWatch;
use super::requests::{Kind, Shim};
use super::rollback::Rollback;
use super::runtime::Runtime;
use super::server::Server;
use super::signals::Signals;
use super::state::Watched;
use super::stdin::StdinPipe;
use super::stdio::ContainerStdio;

/// File name of the runtime's own log (`--log`) inside the shim's state directory.
pub const RUNTIME_LOG_FILE: &str = "runtime.log";

/// Create the container and return the monitor that watches it.
pub fn setup(args: &ContainerArgs) -> Result<Monitor, ShimError> {
    let state_dir = args.state_dir.as_path();
    let mut rollback = Rollback::new();
    let signals = Signals::install()?;
    let server = Server::bind(&state_dir.join(SOCKET_FILE))?;
    write_pid_file(state_dir, SHIM_PID_FILE, std::process::id(), &mut rollback)?;

    if let Some(path) = &args.log_path
        && !path.exists()
    {
        let path = path.clone();
        rollback.push("removing the log file", move || logger::remove_log(&path));
    }
    let log = CriLog::open(args.log_path.clone())?;

    let (stdout_read, stdout_write) =
        unistd::pipe2(OFlag::O_CLOEXEC).map_err(ShimError::sys("creating the stdout pipe"))?;
    let (stderr_read, stderr_write) =
        unistd::pipe2(OFlag::O_CLOEXEC).map_err(ShimError::sys("creating the stderr pipe"))?;
    // The attach socket goes with `stdio` (its Drop removes the file).
    let mut attach = super::attach::Attach::bind(&state_dir.join(ATTACH_SOCKET_FILE))?;
    let mut stdin_read = None;
    if args.stdin {
        let (read, write) =
            unistd::pipe2(OFlag::O_CLOEXEC).map_err(ShimError::sys("creating the stdin pipe"))?;
        attach = attach.with_stdin(StdinPipe::new(write, args.stdin_once)?);
        stdin_read = Some(read);
    }
    let mut stdio = ContainerStdio::new(stdout_read, stderr_read)?.with_attach(attach);

    let runtime = Runtime::new(args.runtime.clone(), args.runtime_root.clone())
        .with_log(state_dir.join(RUNTIME_LOG_FILE));
    let pid_file = state_dir.join(INIT_PID_FILE);
    {
        let runtime = runtime.clone();
        let id = args.id.clone();
        let pid_file = pid_file.clone();
        rollback.push("deleting the container from the runtime", move || {
            if let Err(error) = runtime.delete(&id) {
                crate::diag!("{error}");
            }
            let _ = fs::remove_file(&pid_file);
        });
    }
    if let Err(error) = runtime.create(
        &args.id,
        &args.bundle,
        &pid_file,
        stdin_read,
        stdout_write,
        stderr_write,
    ) {
        let mut said = stdio.take_stderr_text();
        if said.is_empty() {
            said = last_lines(&state_dir.join(RUNTIME_LOG_FILE), 5);
        }
        return Err(if said.is_empty() {
            error
        } else {
            ShimError::Runtime {
                command: format!("{} create {}", args.runtime.display(), args.id),
                message: said,
            }
        });
    }
    let pid = read_pid_file(&pid_file)?;
    crate::diag!("container {} created, init pid {pid}", args.id);

    let oom = OomWatch::for_bundle(&args.bundle);
    if oom.is_none() {
        crate::diag!("no memory cgroup counter found: OOM kills will not be detected");
    }
    let kind = Kind::Container {
        id: args.id.clone(),
        runtime,
        oom,
    };
    let shim = Shim::new(
        kind,
        Watched::created(pid),
        state_dir.to_path_buf(),
        log,
        stdio,
    );
    rollback.commit();
    Ok(Monitor::new(server, shim, signals))
}

/// Write a pid file and register its removal.
pub fn write_pid_file(
    state_dir: &Path,
    name: &str,
    pid: u32,
    rollback: &mut Rollback,
) -> Result<(), ShimError> {
    let path = state_dir.join(name);
    fs::write(&path, pid.to_string())
        .map_err(ShimError::io(format!("writing {}", path.display())))?;
    rollback.push(format!("removing {}", path.display()), move || {
        let _ = fs::remove_file(&path);
    });
    Ok(())
}

/// The last `count` lines of a text file ("" when unreadable).
fn last_lines(path: &Path, count: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// Read the pid the runtime wrote with `--pid-file`.
fn read_pid_file(path: &Path) -> Result<u32, ShimError> {
    let text =
        fs::read_to_string(path).map_err(ShimError::io(format!("reading {}", path.display())))?;
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|pid| *pid > 0)
        .ok_or_else(|| ShimError::Invalid(format!("{} holds no pid: {text:?}", path.display())))
}
