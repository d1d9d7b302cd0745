//! Setting up sandbox mode: socket, pid file, pod cgroup (a directory, or a
//! systemd scope under the systemd driver: see [`super::pod_cgroup`]) and
//! the pause process. Every step registers its undo, so a failed set-up
//! leaves nothing behind: no pause process, no cgroup directories or scope
//! unit, no socket, no pid files.

use cradle_proto::shim::{INIT_PID_FILE, SHIM_PID_FILE, SOCKET_FILE};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;

use super::ShimError;
use super::args::SandboxArgs;
use super::container::write_pid_file;
use super::logger::CriLog;
use super::monitor::Monitor;
use super::pause::{self, PodNamespaces};
use super::pod_cgroup::PodCgroup;
use super::requests::{Kind, Shim};
use super::rollback::Rollback;
use super::server::Server;
use super::signals::Signals;
use super::state::Watched;
use super::stdio::ContainerStdio;

/// Start the pause process and return the monitor that watches it.
pub fn setup(args: &SandboxArgs) -> Result<Monitor, ShimError> {
    let state_dir = args.state_dir.as_path();
    let mut rollback = Rollback::new();
    let pod_cgroup = PodCgroup::from_args(args)?;
    let namespaces = PodNamespaces::open(&args.netns, &args.ipcns, &args.utsns)?;
    let signals = Signals::install()?;
    let server = Server::bind(&state_dir.join(SOCKET_FILE))?;
    write_pid_file(state_dir, SHIM_PID_FILE, std::process::id(), &mut rollback)?;

    // The pod cgroup `<parent>/<sandbox-id>` (or scope
    // `cri-cradle-<sandbox-id>.scope`) is a leaf: the pod's containers get
    // sibling cgroups, so on cgroup v2 the pause process never shares a
    // directory with enabled subtree controllers. Its removal is registered
    // before the pause's kill, so it runs after it.
    if let Some(pod) = &pod_cgroup {
        let undo = pod.cgroup().clone();
        rollback.push(format!("removing cgroup {}", undo.path()), move || {
            if let Err(error) = undo.remove() {
                crate::diag!("{error}");
            }
        });
        pod.before_pause()?;
    }

    let userns = (!args.uid_map.is_empty()).then_some(pause::UserNs {
        uids: &args.uid_map,
        gids: &args.gid_map,
    });
    let forked = pause::spawn(&namespaces, state_dir, userns)?;
    let pid = forked.pid;
    rollback.push(format!("killing pause process {pid}"), move || {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
    });
    if let Some(pod) = &pod_cgroup {
        pod.place_pause(pid.as_raw())?;
        if let Some(unit) = pod.systemd_unit() {
            crate::diag!("sandbox {} pause process in {unit}", args.id);
        }
    }
    let pid = forked.wait_ready()?;
    let pid = u32::try_from(pid.as_raw())
        .map_err(|_| ShimError::Invalid(format!("pause pid {pid} is negative")))?;
    write_pid_file(state_dir, INIT_PID_FILE, pid, &mut rollback)?;
    crate::diag!("sandbox {} pause process {pid} running", args.id);

    let shim = Shim::new(
        Kind::Sandbox {
            cgroup: pod_cgroup.map(|pod| pod.cgroup().clone()),
        },
        Watched::running(pid),
        state_dir.to_path_buf(),
        CriLog::open(None)?,
        ContainerStdio::none(),
    );
    rollback.commit();
    Ok(Monitor::new(server, shim, signals))
}
