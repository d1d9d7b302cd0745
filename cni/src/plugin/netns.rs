//! Entering a network namespace just long enough to open a netlink socket
//! there. A socket stays in the namespace it was created in, so after this
//! the plugin talks to the pod's namespace without its thread living in it.

use super::error::PluginError;
use nix::sched::{CloneFlags, setns};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

/// Opens a namespace file (`CNI_NETNS`).
pub fn open(path: &Path) -> Result<File, PluginError> {
    File::open(path).map_err(|e| PluginError::io(format!("opening netns {}", path.display()), e))
}

/// Runs `f` with the calling thread in `target`'s network namespace and
/// always returns the thread to the namespace it started in.
pub fn within<T>(target: &File, f: impl FnOnce() -> T) -> Result<T, PluginError> {
    let home = File::open("/proc/thread-self/ns/net")
        .map_err(|e| PluginError::io("opening the current netns".into(), e))?;
    setns(target.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| PluginError::io("entering the pod netns".into(), e.into()))?;
    let out = f();
    setns(home.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| PluginError::io("returning to the host netns".into(), e.into()))?;
    Ok(out)
}
