//! The pod cgroup the pause process runs in, under either cgroup driver,
//! through the launcher's cgroup library ([`crate::cgroups`]):
//!
//! - cgroupfs (`--cgroup /<parent>/<sandbox id>`): a directory made
//!   before the pause is forked, the pause moved in once it is;
//! - systemd (`--cgroup <slice>:cri-cradle:<sandbox id> --systemd-cgroup`):
//!   the transient scope `cri-cradle-<sandbox id>.scope` in the pod's
//!   slice, which systemd starts with the pause in it (so only once the
//!   pause is forked), over the launcher's D-Bus driver
//!   ([`crate::cgroups::systemd`], each call from a child process).
//!
//! Removing it ([`Cgroup::remove`]: the sandbox's delete, or a failed
//! set-up) stops the scope and removes the directories. The daemon gives
//! the sandbox no resources (no pod overhead reaches the shim), so the
//! cgroup gets no limits here: the pod's containers carry theirs.

use super::ShimError;
use super::args::SandboxArgs;
use crate::cgroups::{Cgroup, CgroupError};

/// The pod cgroup of a sandbox, before the pause runs in it.
#[derive(Debug, Clone)]
pub struct PodCgroup {
    cgroup: Cgroup,
}

impl PodCgroup {
    /// The pod cgroup `args` name (none without `--cgroup`). Nothing is
    /// created yet; the systemd driver is refused here where systemd does
    /// not run, and a path of the wrong form for its driver is refused
    /// naming it.
    pub fn from_args(args: &SandboxArgs) -> Result<Option<PodCgroup>, ShimError> {
        let Some(path) = &args.cgroup else {
            return Ok(None);
        };
        let cgroup = if args.systemd_cgroup {
            Cgroup::systemd(path, &args.id)
        } else {
            Cgroup::new(&absolute(path))
        };
        Ok(Some(PodCgroup {
            cgroup: cgroup.map_err(cgroup_error)?,
        }))
    }

    /// The handle that removes it (stops the scope, removes the
    /// directories; nothing there is fine), for the undo and the delete.
    pub fn cgroup(&self) -> &Cgroup {
        &self.cgroup
    }

    /// The systemd scope unit the pause goes into (systemd driver only).
    pub fn systemd_unit(&self) -> Option<&str> {
        self.cgroup.systemd_unit()
    }

    /// Before the pause is forked: makes the cgroupfs directories. A
    /// systemd scope cannot exist without a process, so waits.
    pub fn before_pause(&self) -> Result<(), ShimError> {
        if self.systemd_unit().is_some() {
            return Ok(());
        }
        self.cgroup.create().map_err(cgroup_error)
    }

    /// Puts the forked pause `pid` in: under systemd, starts its scope
    /// with it (and makes what systemd leaves to the runtime, as for a
    /// container); then moves it into every directory of the cgroup.
    pub fn place_pause(&self, pid: i32) -> Result<(), ShimError> {
        if self.systemd_unit().is_some() {
            self.cgroup
                .with_init_pid(pid)
                .create()
                .map_err(cgroup_error)?;
        }
        self.cgroup.add_process(pid).map_err(cgroup_error)
    }
}

/// The daemon passes a cgroupfs pod cgroup relative to each hierarchy's
/// root, with or without a leading `/`; the cgroup library wants it absolute.
fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

fn cgroup_error(error: CgroupError) -> ShimError {
    ShimError::Invalid(format!("pod cgroup: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::systemd::{Unit, systemd_running};
    use std::path::PathBuf;

    fn args(cgroup: Option<&str>, systemd_cgroup: bool) -> SandboxArgs {
        SandboxArgs {
            id: "p1".into(),
            state_dir: PathBuf::from("/s"),
            netns: PathBuf::from("/n"),
            ipcns: PathBuf::from("/i"),
            utsns: PathBuf::from("/u"),
            cgroup: cgroup.map(str::to_string),
            systemd_cgroup,
            uid_map: Vec::new(),
            gid_map: Vec::new(),
        }
    }

    #[test]
    fn no_cgroup_flag_is_no_pod_cgroup() {
        assert!(PodCgroup::from_args(&args(None, false)).unwrap().is_none());
    }

    #[test]
    fn a_cgroupfs_path_is_made_absolute_and_has_no_unit() {
        if cradle_cgroupfs::Hierarchy::detect().is_err() {
            cradle_testkit::skip("no cgroup hierarchy on this host to hold the handle");
            return;
        }
        let pod = PodCgroup::from_args(&args(Some("kubepods/p1"), false))
            .unwrap()
            .unwrap();
        assert_eq!(pod.cgroup().path(), "/kubepods/p1");
        assert_eq!(pod.systemd_unit(), None);
    }

    #[test]
    fn a_systemd_path_without_the_flag_is_refused_naming_it() {
        if cradle_cgroupfs::Hierarchy::detect().is_err() {
            cradle_testkit::skip("no cgroup hierarchy on this host to hold the handle");
            return;
        }
        let e = PodCgroup::from_args(&args(Some("a.slice:cri-cradle:p1"), false)).unwrap_err();
        assert!(e.to_string().contains("a.slice:cri-cradle:p1"), "{e}");
    }

    /// The daemon's `<slice>:cri-cradle:<sandbox id>` is the scope
    /// `cri-cradle-<sandbox id>.scope` in the slice's expanded path, where
    /// the daemon's stats look for it.
    #[test]
    fn the_pause_scope_is_named_after_the_sandbox_in_the_pods_slice() {
        let path = "kubepods-besteffort-pod1.slice:cri-cradle:p1";
        let unit = Unit::from_cgroups_path(path, "p1").unwrap();
        assert_eq!(unit.name(), "cri-cradle-p1.scope");
        assert_eq!(unit.slice(), "kubepods-besteffort-pod1.slice");
        assert_eq!(
            unit.cgroup_path(),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-cradle-p1.scope"
        );
        let system = Unit::from_cgroups_path("system.slice:cri-cradle:p1", "p1").unwrap();
        assert_eq!(system.cgroup_path(), "/system.slice/cri-cradle-p1.scope");
    }

    /// Where systemd runs, the handle names the scope; elsewhere the
    /// systemd driver is refused before anything is made.
    #[test]
    fn the_systemd_driver_needs_systemd_running() {
        let result = PodCgroup::from_args(&args(Some("system.slice:cri-cradle:p1"), true));
        if systemd_running() {
            let pod = result.unwrap().unwrap();
            assert_eq!(pod.systemd_unit(), Some("cri-cradle-p1.scope"));
            assert_eq!(pod.cgroup().path(), "/system.slice/cri-cradle-p1.scope");
        } else {
            let e = result.unwrap_err().to_string();
            assert!(e.contains("systemd"), "{e}");
        }
    }
}
