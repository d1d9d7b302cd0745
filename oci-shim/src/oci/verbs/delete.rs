//! `cradle-oci delete`: remove a stopped container's cgroup and state;
//! with `--force` also a running one. Whatever is left in the cgroup is
//! SIGKILLed first, and delete waits until it is gone.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cgroups::Cgroup;
use crate::oci::error::{OciError, Result};
use crate::oci::hooks::{self, Phase};
use crate::oci::state::{self, ContainerState, Status};
use crate::oci::syscall::Kernel;

/// How long `--force` waits for killed processes to disappear.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// Deletes the container. An unknown id is an error unless `force`
/// (callers use `--force` to make delete idempotent, as with runc).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let dir = state::container_dir(root, id)?;
    let st = match ContainerState::load(root, id) {
        Ok(st) => st,
        Err(OciError::NotFound(_)) => {
            // A create that died before writing state.json may leave the
            // directory; it holds nothing running, so remove it.
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| OciError::io("remove", &dir, e))?;
                return Ok(());
            }
            return if force {
                Ok(())
            } else {
                Err(OciError::NotFound(id.to_string()))
            };
        }
        Err(e) => return Err(e),
    };
    let status = st.status(root)?;
    let cg = st.cgroup()?;
    if status != Status::Stopped && !force {
        return Err(OciError::WrongStatus {
            id: id.to_string(),
            status: status.as_str(),
            what: "cannot delete without --force",
        });
    }
    // Also for a stopped container, as runc's destroy: without a pid
    // namespace of its own, the init's children outlive it in the cgroup
    // (which could not be removed while they run). With one, the kernel
    // has killed them already and this finds nothing.
    kill_all(&st, &cg)?;
    if let Some(rootfs) = &st.host_mounts_under {
        crate::oci::rootfs::mountinfo::detach_mounts_under(&Kernel, rootfs)?;
    }
    cg.remove()?;
    crate::oci::container_cgroup::remove_default_parent(&st.cgroup_path);
    std::fs::remove_dir_all(&dir).map_err(|e| OciError::io("remove", &dir, e))?;
    poststop(&st);
    Ok(())
}

/// Runs the poststop hooks recorded at create (a bundle changed or gone
/// meanwhile does not matter); failures are only warnings, as the spec says.
fn poststop(st: &ContainerState) {
    let state = hooks::state_json(&st.id, "stopped", st.pid, &st.bundle, &st.annotations);
    hooks::run_warn_list(Phase::Poststop, &st.poststop, &state);
}

/// SIGKILLs the init and every process of the cgroup until none is left.
fn kill_all(st: &ContainerState, cg: &Cgroup) -> Result<()> {
    let deadline = Instant::now() + KILL_TIMEOUT;
    loop {
        let mut left = cg.processes()?;
        if st.init_alive() {
            left.push(st.pid);
        }
        if left.is_empty() {
            return Ok(());
        }
        for pid in &left {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        // Frozen tasks only act on SIGKILL once thawed (a paused container).
        if cg.is_frozen().unwrap_or(false) {
            let _ = cg.thaw();
        }
        if Instant::now() >= deadline {
            return Err(OciError::Timeout(format!(
                "processes {left:?} of container {} survive SIGKILL",
                st.id
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
