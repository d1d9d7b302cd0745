//! Setting up container mode: socket, pid file, log, stdio pipes (a stdin
//! pipe with `--stdin`), the console socket of a tty container (its spec's
//! `process.terminal`), and `<runtime> create`. Every step registers its
//! undo, so a failed set-up leaves nothing behind: no runtime state, no
//! socket, no pid files.
//!
//! A tty container's output is the pty master's: it is logged as `stdout`
//! (as containerd and CRI-O log a tty) and sent to attach clients, whose
//! stdin frames (with `--stdin`) are written to the master and whose resize
//! frames set its size. With a tty, `--stdin-once` does not close the
//! terminal when the attach ends (as containerd: a terminal has no EOF to
//! give; the container may read on).

use std::fs;
use std::os::fd::OwnedFd;
use std::path::Path;

use cradle_proto::shim::{
    ATTACH_SOCKET_FILE, CONSOLE_SOCKET_FILE, INIT_PID_FILE, SHIM_PID_FILE, SOCKET_FILE,
};
use nix::fcntl::OFlag;
use nix::unistd;

use super::ShimError;
use super::args::ContainerArgs;
use super::attach::Attach;
use super::console::{self, Console, ConsoleSocket};
use super::logger::{self, CriLog};
use super::monitor::Monitor;
use super::oom::OomWatch;
use super::requests::{Kind, Shim};
use super::rollback::Rollback;
use super::runtime::{CreateIo, Runtime};
use super::server::Server;
use super::signals::Signals;
use super::state::Watched;
use super::stdin::StdinPipe;
use super::stdio::ContainerStdio;

/// File name of the runtime's own log (`--log`) inside the shim's state directory.
pub use cradle_proto::shim::RUNTIME_LOG_FILE;

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
    let mut log = CriLog::open(args.log_path.clone())?;
    let pipes = Pipes::open(args)?;
    let mut stdio = pipes.stdio;

    let runtime = Runtime::new(args.runtime.clone(), args.runtime_root.clone())
        .with_args(args.runtime_args.clone())
        .with_log(state_dir.join(RUNTIME_LOG_FILE));
    let pid_file = state_dir.join(INIT_PID_FILE);
    let io = CreateIo {
        console_socket: pipes
            .console_socket
            .as_ref()
            .map(ConsoleSocket::runtime_path),
        stdin: pipes.stdin_read,
        stdout: pipes.stdout_write,
        stderr: pipes.stderr_write,
    };
    create_in_runtime(args, &runtime, &pid_file, io, &mut stdio, &mut rollback)?;
    let stdio = attach_stdio(
        args,
        stdio,
        pipes.stdin_write,
        pipes.console_socket,
        &mut log,
    )?;
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
        kill_all_on_exit: super::pidns::kill_all_on_exit(&args.bundle),
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

/// The container's stdio before `create`: the output pipes (read by the
/// shim), a stdin pipe with `--stdin` (none for a tty container, which
/// reads the terminal), and the console socket of a tty container.
struct Pipes {
    stdio: ContainerStdio,
    stdout_write: OwnedFd,
    stderr_write: OwnedFd,
    stdin_read: Option<OwnedFd>,
    stdin_write: Option<OwnedFd>,
    /// The socket file goes when this is dropped, on every path.
    console_socket: Option<ConsoleSocket>,
}

impl Pipes {
    fn open(args: &ContainerArgs) -> Result<Pipes, ShimError> {
        let (stdout_read, stdout_write) =
            unistd::pipe2(OFlag::O_CLOEXEC).map_err(ShimError::sys("creating the stdout pipe"))?;
        let (stderr_read, stderr_write) =
            unistd::pipe2(OFlag::O_CLOEXEC).map_err(ShimError::sys("creating the stderr pipe"))?;
        let terminal = console::terminal_requested(&args.bundle)?;
        let console_socket = match terminal {
            true => Some(ConsoleSocket::bind(
                &args.state_dir.join(CONSOLE_SOCKET_FILE),
            )?),
            false => None,
        };
        let mut stdin_pipe = None;
        if args.stdin && !terminal {
            stdin_pipe = Some(
                unistd::pipe2(OFlag::O_CLOEXEC)
                    .map_err(ShimError::sys("creating the stdin pipe"))?,
            );
        }
        let (stdin_read, stdin_write) = match stdin_pipe {
            Some((read, write)) => (Some(read), Some(write)),
            None => (None, None),
        };
        Ok(Pipes {
            stdio: ContainerStdio::new(stdout_read, stderr_read)?,
            stdout_write,
            stderr_write,
            stdin_read,
            stdin_write,
            console_socket,
        })
    }
}

/// `<runtime> create`, its undo registered first. A refusal carries what
/// the runtime said (its stderr, else the end of its log).
fn create_in_runtime(
    args: &ContainerArgs,
    runtime: &Runtime,
    pid_file: &Path,
    io: CreateIo,
    stdio: &mut ContainerStdio,
    rollback: &mut Rollback,
) -> Result<(), ShimError> {
    {
        let runtime = runtime.clone();
        let id = args.id.clone();
        let pid_file = pid_file.to_path_buf();
        rollback.push("deleting the container from the runtime", move || {
            if let Err(error) = runtime.delete(&id) {
                crate::diag!("{error}");
            }
            let _ = fs::remove_file(&pid_file);
        });
    }
    let Err(error) = runtime.create(&args.id, &args.bundle, pid_file, io) else {
        return Ok(());
    };
    let mut said = stdio.take_stderr_text();
    if said.is_empty() {
        said = last_lines(&args.state_dir.join(RUNTIME_LOG_FILE), 5);
    }
    // The runtime ran and said no; failing to run it is the node's fault.
    Err(match error {
        ShimError::Runtime { message, .. } => ShimError::CreateRefused {
            runtime: args.runtime.display().to_string(),
            id: args.id.clone(),
            message: if said.is_empty() { message } else { said },
        },
        other => other,
    })
}

/// After `create`: the attach socket, with the stdin pipe or the
/// terminal (whose master the runtime sent over the console socket).
fn attach_stdio(
    args: &ContainerArgs,
    mut stdio: ContainerStdio,
    stdin_write: Option<OwnedFd>,
    console_socket: Option<ConsoleSocket>,
    log: &mut CriLog,
) -> Result<ContainerStdio, ShimError> {
    // The attach socket goes with `stdio` (its Drop removes the file).
    let mut attach = Attach::bind(&args.state_dir.join(ATTACH_SOCKET_FILE))?;
    if let Some(write) = stdin_write {
        attach = attach.with_stdin(StdinPipe::new(write, args.stdin_once)?);
    }
    if let Some(socket) = console_socket {
        let console = Console::new(socket.receive(console::RECEIVE_TIMEOUT)?)?;
        drop(socket);
        // Whatever the runtime printed goes to the log before the terminal's output.
        stdio.drain(log);
        stdio.use_terminal(console.reader()?)?;
        if args.stdin {
            // Never closed by stdin_once: see the module doc.
            attach = attach.with_stdin(StdinPipe::new(console.writer()?, false)?);
        }
        attach = attach.with_console(console);
    }
    Ok(stdio.with_attach(attach))
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
