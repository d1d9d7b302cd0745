//! The `cradle-shim sandbox` command line that starts a pod's pause
//! process (its contract is oci-shim's `shim/args.rs`): the sandbox id, the
//! shim's state dir, the namespaces to join, the pod cgroup and the pod's
//! user namespace. The pod cgroup is `<parent>/<sandbox id>` under the
//! cgroupfs driver; under systemd it is `<slice>:cri-cradle:<sandbox id>`
//! with `--systemd-cgroup`, and the shim puts the pause in the transient
//! scope `cri-cradle-<sandbox id>.scope` of the pod's slice.

use std::ffi::OsString;
use std::path::Path;

use crate::core::handlers::CgroupDriver;
use crate::core::ids::SandboxId;
use crate::platform::namespaces::Pins;

/// What the pause's command line says.
pub(super) struct PauseArgs<'a> {
    /// The sandbox.
    pub id: &'a SandboxId,
    /// The shim's state directory.
    pub shim_dir: &'a Path,
    /// The pinned namespaces (the daemon's own where one is not pinned).
    pub pins: &'a Pins,
    /// The pod cgroup in its driver's form (empty: none).
    pub cgroup_path: &'a str,
    /// The node's cgroup driver.
    pub driver: CgroupDriver,
    /// The pod user namespace's `--uid-map`/`--gid-map` flags.
    pub userns: Vec<OsString>,
}

impl PauseArgs<'_> {
    /// The arguments after the shim's binary.
    pub fn command_line(self) -> Vec<OsString> {
        let host_ns = |kind: &str| format!("/proc/{}/ns/{kind}", std::process::id());
        let ns_arg = |pin: &Option<std::path::PathBuf>, kind: &str| -> OsString {
            pin.as_ref()
                .map(|p| p.as_os_str().to_os_string())
                .unwrap_or_else(|| host_ns(kind).into())
        };
        let mut args: Vec<OsString> = vec![
            "sandbox".into(),
            "--id".into(),
            self.id.as_str().into(),
            "--state-dir".into(),
            self.shim_dir.as_os_str().into(),
            "--netns".into(),
            ns_arg(&self.pins.net, "net"),
            "--ipcns".into(),
            ns_arg(&self.pins.ipc, "ipc"),
            "--utsns".into(),
            ns_arg(&self.pins.uts, "uts"),
        ];
        if !self.cgroup_path.is_empty() {
            args.extend(["--cgroup".into(), self.cgroup_path.into()]);
            if self.driver == CgroupDriver::Systemd {
                args.push("--systemd-cgroup".into());
            }
        }
        // The pod's own user namespace, made by the pause (`--uid-map`…).
        args.extend(self.userns);
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::handlers::cgroups_path;
    use std::path::PathBuf;

    fn line(id: &SandboxId, pins: &Pins, cgroup_path: &str, driver: CgroupDriver) -> Vec<String> {
        PauseArgs {
            id,
            shim_dir: Path::new("/state/shims/p"),
            pins,
            cgroup_path,
            driver,
            userns: Vec::new(),
        }
        .command_line()
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
    }

    fn pins() -> Pins {
        Pins {
            dir: PathBuf::from("/ns/p1"),
            net: Some(PathBuf::from("/ns/p1/net")),
            ipc: Some(PathBuf::from("/ns/p1/ipc")),
            uts: None,
        }
    }

    #[test]
    fn under_cgroupfs_the_pause_gets_its_cgroup_path() {
        let id = SandboxId::new("p1".to_string());
        let path = cgroups_path(CgroupDriver::Cgroupfs, "/kubepods/besteffort/pod1", "p1").unwrap();
        let args = line(&id, &pins(), &path, CgroupDriver::Cgroupfs);
        let own_uts = format!("/proc/{}/ns/uts", std::process::id());
        assert_eq!(
            args,
            [
                "sandbox",
                "--id",
                "p1",
                "--state-dir",
                "/state/shims/p",
                "--netns",
                "/ns/p1/net",
                "--ipcns",
                "/ns/p1/ipc",
                "--utsns",
                own_uts.as_str(),
                "--cgroup",
                "/kubepods/besteffort/pod1/p1",
            ]
        );
    }

    #[test]
    fn under_systemd_the_pause_gets_its_scope_in_the_pods_slice() {
        let id = SandboxId::new("p1".to_string());
        let slice = "kubepods-besteffort-pod1.slice";
        let path = cgroups_path(CgroupDriver::Systemd, slice, "p1").unwrap();
        let args = line(&id, &pins(), &path, CgroupDriver::Systemd);
        assert_eq!(
            args[11..],
            [
                "--cgroup",
                "kubepods-besteffort-pod1.slice:cri-cradle:p1",
                "--systemd-cgroup"
            ]
        );
    }

    #[test]
    fn no_cgroup_path_is_no_cgroup_flag() {
        let id = SandboxId::new("p1".to_string());
        let args = line(&id, &pins(), "", CgroupDriver::Systemd);
        assert!(!args.iter().any(|a| a.contains("cgroup")), "{args:?}");
    }
}
