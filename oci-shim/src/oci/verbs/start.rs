//! `cradle-oci start`: read the exec FIFO, which releases the init into
//! execve, then remove it (the container is `running` from then on).

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::oci::error::{OciError, Result};
use crate::oci::hooks::{self, Phase};
use crate::oci::state::{self, ContainerState, FIFO_FILE, Status};

/// How long `start` waits for the init to write its byte.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a created container.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let st = ContainerState::load(root, id)?;
    let status = st.status(root)?;
    if status != Status::Created {
        return Err(OciError::WrongStatus {
            id: id.to_string(),
            status: status.as_str(),
            what: "cannot start a container that is not created",
        });
    }
    let fifo = state::container_dir(root, id)?.join(FIFO_FILE);
    // Non-blocking open: it succeeds at once and releases the init, which
    // blocks in its own open for writing until a reader exists. We then
    // poll for its byte, watching that the init is still alive.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo)
        .map_err(|e| OciError::io("open", &fifo, e))?;
    let deadline = Instant::now() + START_TIMEOUT;
    let mut buf = [0u8; 1];
    loop {
        match f.read(&mut buf) {
            Ok(1) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(OciError::io("read", &fifo, e)),
        }
        if !st.init_alive() {
            return Err(OciError::Init(format!(
                "container {id} exited before start"
            )));
        }
        if Instant::now() >= deadline {
            return Err(OciError::Timeout(format!(
                "container {id} did not answer start"
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::fs::remove_file(&fifo).map_err(|e| OciError::io("remove", &fifo, e))?;
    poststart(&st);
    Ok(())
}

/// Runs the poststart hooks recorded at create (config.json is not read
/// again). The spec: a failing poststart hook is a warning, and the
/// remaining hooks and the lifecycle continue as if it had succeeded
/// (runc 1.1 kills the container instead; crun and the spec agree).
fn poststart(st: &ContainerState) {
    if st.poststart.is_empty() {
        return;
    }
    let state = hooks::state_json(&st.id, "running", st.pid, &st.bundle, &st.annotations);
    hooks::run_warn_list(Phase::Poststart, &st.poststart, &state);
}
