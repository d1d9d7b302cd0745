//! `cradle-oci run`: create, start and, unless detached, wait for the
//! container like runc: this process becomes the init's reaper (the
//! intermediate that forked the init exits first), forwards the signals
//! it receives to the init, deletes the container once it has exited and
//! returns its exit status.

use nix::sys::signal::{SigmaskHow, sigprocmask};
use nix::unistd::Pid;

use crate::oci::error::{OciError, Result};
use crate::oci::process::signals::{forwarded, wait_forwarding};
use crate::oci::state::ContainerState;
use crate::oci::verbs::create::{self, CreateOptions};
use crate::oci::verbs::delete;
use crate::oci::verbs::start;

/// Runs the container; returns its exit code (0 when detached).
pub fn run(opts: &CreateOptions, detach: bool) -> Result<i32> {
    if !detach {
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| OciError::sys("PR_SET_CHILD_SUBREAPER", e))?;
    }
    create::create(opts)?;
    let started = start::start(&opts.root, &opts.id)
        .and_then(|()| ContainerState::load(&opts.root, &opts.id));
    let st = match started {
        Ok(st) => st,
        Err(e) => {
            let _ = delete::delete(&opts.root, &opts.id, true);
            return Err(e);
        }
    };
    if detach {
        return Ok(0);
    }
    // Blocked only now: the container's processes must not inherit the mask.
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded()), None)
        .map_err(|e| OciError::sys("block signals", e))?;
    let code = wait_forwarding(Pid::from_raw(st.pid));
    delete::delete(&opts.root, &opts.id, true)?;
    code
}
