//! What the shim knows about its watched process.

use cradle_proto::shim::{ExitRecord, ProcessStatus, ShimState};

use super::reaper::now_ns;

/// The watched process's lifecycle: created → running → exited.
#[derive(Debug, Clone)]
pub struct Watched {
    state: ShimState,
}

impl Watched {
    /// A process that waits for `start` (container mode).
    pub fn created(pid: u32) -> Watched {
        Watched {
            state: ShimState {
                pid,
                status: ProcessStatus::Created,
                started_at_ns: None,
                exit: None,
            },
        }
    }

    /// A process already running (the pause process).
    pub fn running(pid: u32) -> Watched {
        let mut watched = Watched::created(pid);
        watched.mark_started();
        watched
    }

    /// `start` succeeded.
    pub fn mark_started(&mut self) {
        if self.state.status == ProcessStatus::Created {
            self.state.status = ProcessStatus::Running;
            self.state.started_at_ns = Some(now_ns());
        }
    }

    /// The process was reaped.
    pub fn mark_exited(&mut self, record: ExitRecord) {
        self.state.status = ProcessStatus::Exited;
        self.state.exit = Some(record);
    }

    /// The watched process's pid.
    pub fn pid(&self) -> u32 {
        self.state.pid
    }

    /// Its status now.
    pub fn status(&self) -> ProcessStatus {
        self.state.status
    }

    /// How it exited, once it has.
    pub fn exit(&self) -> Option<&ExitRecord> {
        self.state.exit.as_ref()
    }

    /// The answer to `State`.
    pub fn snapshot(&self) -> ShimState {
        self.state.clone()
    }
}
