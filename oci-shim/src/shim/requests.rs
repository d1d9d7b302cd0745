//! The shim's answers to the daemon's requests, and what happens at exit.

use std::fs;
use std::path::PathBuf;

use cradle_proto::shim::{
    ExitRecord, INIT_PID_FILE, ProcessStatus, RUNTIME_LOG_FILE, Request, Response, SHIM_PID_FILE,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::ShimError;
use super::logger::CriLog;
use super::oom::OomWatch;
use super::reaper;
use super::runtime::Runtime;
use super::runtime_log;
use super::server::{ConnId, Handler};
use super::state::Watched;
use super::stdio::ContainerStdio;
use crate::cgroups::Cgroup;

/// What the shim watches, with what is specific to each mode.
#[derive(Debug)]
pub enum Kind {
    /// A container created through an OCI runtime.
    Container {
        /// The container id.
        id: String,
        /// The OCI runtime that created it.
        runtime: Runtime,
        /// The watch on its memory cgroup's OOM kills, where there is one.
        oom: Option<OomWatch>,
        /// No pid namespace of its own: what outlives the init is killed
        /// when it exits (see [`super::pidns`]).
        kill_all_on_exit: bool,
    },
    /// The built-in pause process, with the pod cgroup it may have created.
    Sandbox {
        /// The pod cgroup, when the pause created it.
        cgroup: Option<Cgroup>,
    },
}

/// A request answered only once the watched process has exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parked {
    Wait,
    Delete,
}

/// The shim's state and request handling (everything but the sockets).
#[derive(Debug)]
pub struct Shim {
    kind: Kind,
    watched: Watched,
    state_dir: PathBuf,
    log: CriLog,
    stdio: ContainerStdio,
    parked: Vec<(ConnId, Parked)>,
    shutdown: bool,
    /// Where the runtime's log ended at `start` (see [`runtime_log`]).
    runtime_log_mark: Option<u64>,
    /// The runtime has deleted the exited container already (see
    /// [`Shim::release_runtime`]): `Delete` only has to shut down.
    runtime_released: bool,
    /// [`Shim::release_runtime`] ran once (it is never retried there: its own
    /// child's SIGCHLD would run it again and again).
    release_tried: bool,
}

impl Shim {
    /// The shim of `kind`, watching `watched`, with its state directory, log and stdio.
    pub fn new(
        kind: Kind,
        watched: Watched,
        state_dir: PathBuf,
        log: CriLog,
        stdio: ContainerStdio,
    ) -> Shim {
        Shim {
            kind,
            watched,
            state_dir,
            log,
            stdio,
            parked: Vec::new(),
            shutdown: false,
            runtime_log_mark: None,
            runtime_released: false,
            release_tried: false,
        }
    }

    /// Once the container has exited (its exit recorded in `exit.json`, not
    /// yet answered): `<runtime> delete` now (its state, its cgroup, the
    /// poststop hooks), as containerd deletes a task when it exits, so that `Delete` at
    /// RemoveContainer, which the kubelet waits for, has nothing slow left
    /// to do. Nothing after the exit needs the runtime's state: StopContainer
    /// and Kill of an exited container are no-ops, Start, Update and Exec
    /// are refused. A failure is only logged: `Delete` tries again.
    pub fn release_runtime(&mut self) {
        if self.release_tried || self.shutdown || self.exited().is_none() {
            return;
        }
        self.release_tried = true;
        if let Kind::Container { id, runtime, .. } = &self.kind {
            match runtime.delete(id) {
                Ok(()) => self.runtime_released = true,
                Err(error) => crate::diag!("{error}; left for Delete"),
            }
        }
    }

    /// True once `Delete` has been carried out: the shim should exit.
    pub fn shutting_down(&self) -> bool {
        self.shutdown
    }

    /// The container's open output pipes, for the poll loop.
    pub fn stdio_poll_set(&self) -> Vec<(super::logger::Stream, std::os::fd::BorrowedFd<'_>)> {
        self.stdio.poll_set()
    }

    /// The attach socket's listener, for the poll loop (container mode).
    pub fn attach_poll_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.stdio.attach_poll_fd()
    }

    /// Accept clients on the attach socket.
    pub fn accept_attach(&mut self) {
        self.stdio.accept_attach();
    }

    /// Attached clients to poll for stdin, and the stdin pipe while bytes wait.
    pub fn attach_input_fds(
        &self,
    ) -> (
        Vec<std::os::fd::BorrowedFd<'_>>,
        Option<std::os::fd::BorrowedFd<'_>>,
    ) {
        self.stdio.attach_input_fds()
    }

    /// Carry what attached clients sent to the container's stdin.
    pub fn read_attached(&mut self) {
        self.stdio.read_attached();
    }

    /// Write queued stdin bytes to the container.
    pub fn flush_stdin(&mut self) {
        self.stdio.flush_stdin();
    }

    /// Copy whatever the container wrote to the log.
    pub fn pump_stdio(&mut self, which: super::logger::Stream) {
        self.stdio.pump(which, &mut self.log);
    }

    /// After SIGCHLD: reap; if the watched process exited, drain its output,
    /// record the exit, and return the answers for parked requests.
    pub fn on_child_exit(&mut self) -> Vec<(ConnId, Response)> {
        if self.watched.exit().is_some() {
            // Only orphans left to reap.
            let _ = reaper::reap(Pid::from_raw(-1));
            return Vec::new();
        }
        let Some(mut record) = reaper::reap(self.pid()) else {
            return Vec::new();
        };
        if let Kind::Container { oom: Some(oom), .. } = &self.kind {
            record.oom_killed = oom.oom_killed();
        }
        if let Some(mark) = self.runtime_log_mark
            && record.exit_code != 0
            && record.signal.is_none()
        {
            let log = self.state_dir.join(RUNTIME_LOG_FILE);
            record.message = runtime_log::last_error_since(&log, mark);
        }
        crate::diag!("process {} exited: {record:?}", self.watched.pid());
        self.kill_leftovers();
        // Everything the init wrote is in the pipes now: log it before the exit.
        self.stdio.drain(&mut self.log);
        self.stdio.close_attached();
        if let Err(error) = reaper::write_exit_file(&self.state_dir, &record) {
            crate::diag!("{error}");
        }
        self.watched.mark_exited(record.clone());
        let parked = std::mem::take(&mut self.parked);
        parked
            .into_iter()
            .map(|(conn, what)| match what {
                Parked::Wait => (conn, Response::Exited(record.clone())),
                Parked::Delete => (conn, self.delete_now()),
            })
            .collect()
    }

    /// After the init of a container without a pid namespace of its own
    /// exited: SIGKILL the rest of its cgroup. They are re-parented to this
    /// subreaper, so the next SIGCHLDs reap them.
    fn kill_leftovers(&self) {
        if let Kind::Container {
            id,
            runtime,
            kill_all_on_exit: true,
            ..
        } = &self.kind
            && let Err(error) = runtime.kill(id, Signal::SIGKILL as i32, true)
        {
            crate::diag!("container {id}: killing what outlived its init: {error}");
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.watched.pid() as i32)
    }

    fn exited(&self) -> Option<&ExitRecord> {
        self.watched.exit()
    }

    fn start(&mut self) -> Result<(), ShimError> {
        match (&self.kind, self.watched.status()) {
            (Kind::Sandbox { .. }, _) => Ok(()),
            (Kind::Container { id, runtime, .. }, ProcessStatus::Created) => {
                let mark = runtime_log::mark(&self.state_dir.join(RUNTIME_LOG_FILE));
                runtime.start(id)?;
                self.runtime_log_mark = Some(mark);
                self.watched.mark_started();
                Ok(())
            }
            (Kind::Container { id, .. }, status) => Err(ShimError::Invalid(format!(
                "container {id} cannot start: it is {status:?}"
            ))),
        }
    }

    fn kill(&mut self, signal: i32, all: bool) -> Result<(), ShimError> {
        if self.exited().is_some() {
            return Ok(());
        }
        let direct = |pid: Pid| {
            let signal =
                Signal::try_from(signal).map_err(ShimError::sys(format!("signal {signal}")))?;
            // The pid is an unreaped child of this subreaper: it cannot have been reused.
            kill(pid, signal).map_err(ShimError::sys(format!("kill {pid}")))
        };
        match &self.kind {
            Kind::Sandbox { .. } => direct(self.pid()),
            Kind::Container { id, runtime, .. } => match runtime.kill(id, signal, all) {
                Ok(()) => Ok(()),
                Err(error) => {
                    crate::diag!("{error}; signalling the init directly");
                    direct(self.pid())
                }
            },
        }
    }

    /// `Delete` once the process has exited: runtime delete, cgroup removal.
    fn delete_now(&mut self) -> Response {
        let result = match &self.kind {
            Kind::Container { .. } if self.runtime_released => Ok(()),
            Kind::Container { id, runtime, .. } => match runtime.delete(id) {
                // Already gone from the runtime (deleted by hand, or a retry): done.
                Err(error) if !runtime.knows(id) => {
                    crate::diag!("{error}; the runtime no longer knows {id}");
                    Ok(())
                }
                result => result,
            },
            Kind::Sandbox { cgroup } => {
                if let Some(cgroup) = cgroup
                    && let Err(error) = cgroup.remove()
                {
                    crate::diag!("{error}");
                }
                Ok(())
            }
        };
        match result {
            Ok(()) => {
                // What the runtime's delete killed was re-parented to this
                // subreaper: reap it now, or it would go on to the host's
                // init as a zombie when the shim exits.
                let _ = reaper::reap(Pid::from_raw(-1));
                self.shutdown = true;
                for file in [SHIM_PID_FILE, INIT_PID_FILE] {
                    let _ = fs::remove_file(self.state_dir.join(file));
                }
                Response::Ok
            }
            Err(error) => Response::Error {
                message: error.to_string(),
            },
        }
    }

    fn delete(&mut self, conn: ConnId, force: bool) -> Option<Response> {
        if self.exited().is_some() {
            return Some(self.delete_now());
        }
        if !force {
            return Some(Response::Error {
                message: "the process is still running; stop it first or delete with force".into(),
            });
        }
        if let Err(error) = kill(self.pid(), Signal::SIGKILL) {
            return Some(Response::Error {
                message: format!("killing {}: {error}", self.pid()),
            });
        }
        self.parked.push((conn, Parked::Delete));
        None
    }
}

fn answer(result: Result<(), ShimError>) -> Response {
    match result {
        Ok(()) => Response::Ok,
        Err(error) => Response::Error {
            message: error.to_string(),
        },
    }
}

impl Handler for Shim {
    fn handle(&mut self, conn: ConnId, request: Request) -> Option<Response> {
        if self.shutdown {
            return Some(Response::Error {
                message: "the shim is exiting after Delete".into(),
            });
        }
        match request {
            Request::State => Some(Response::State(self.watched.snapshot())),
            Request::Start => Some(answer(self.start())),
            Request::Kill { signal, all } => Some(answer(self.kill(signal, all))),
            Request::ReopenLog => Some(answer(self.log.reopen())),
            Request::Wait => match self.exited() {
                Some(record) => Some(Response::Exited(record.clone())),
                None => {
                    self.parked.push((conn, Parked::Wait));
                    None
                }
            },
            Request::Delete { force } => self.delete(conn, force),
        }
    }
}
