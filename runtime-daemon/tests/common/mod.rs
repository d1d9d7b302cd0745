//! The shared harness of the daemon's service tests: a daemon root in a temp
//! dir, stand-in shims, request builders, and leak probes.
#![allow(dead_code)] // each test file uses a different part

use cradle_daemon::core::config::Config;
use cradle_daemon::cri::CriService;
use cradle_daemon::runtime::Runtime;
use cradle_proto::cri;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tonic::Request;

/// A daemon root in a temp dir; unmounts anything left below it on drop, so a
/// failing test leaves no namespace pin behind.
pub struct Harness {
    dir: tempfile::TempDir,
}

impl Harness {
    pub fn new() -> Self {
        Harness {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A shim stand-in: a script that exits with `code` after printing `stderr`.
    pub fn fake_shim(&self, name: &str, code: i32, stderr: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho '{stderr}' >&2\nexit {code}\n"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A stand-in that serves the shim protocol (tests/fake_shim.py).
    pub fn serving_shim(&self) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fake_shim.py")
    }

    pub fn config(&self, shim: &Path) -> Config {
        Config {
            socket: self.path().join("cradle.sock"),
            root: self.path().join("root"),
            state_dir: self.path().join("state"),
            cni_conf_dir: self.path().join("cni"),
            shim_path: Some(shim.to_path_buf()),
            oci_runtime_path: Some(PathBuf::from("/bin/false")),
            default_cgroup_parent: "/cradle-unit-test".into(),
            ..Config::default()
        }
    }

    pub async fn service(&self, shim: &Path) -> CriService {
        CriService::new(Runtime::start(self.config(shim)).await.unwrap())
    }

    pub fn mounts_below(&self) -> Vec<String> {
        let root = self.path().to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&root))
            .collect()
    }

    pub fn entries(&self, sub: &str) -> usize {
        std::fs::read_dir(self.path().join(sub))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Stand-in shims still running (a failed test): their argv names our dir.
        let root = self.path().to_string_lossy().into_owned();
        for proc_dir in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = proc_dir.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = std::fs::read(proc_dir.path().join("cmdline")).unwrap_or_default();
            if pid != std::process::id() as i32 && String::from_utf8_lossy(&cmdline).contains(&root)
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        for mount in self.mounts_below().into_iter().rev() {
            let _ = nix::mount::umount2(mount.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn pod_config(name: &str) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: format!("{name}-uid"),
            namespace: "test".into(),
            attempt: 0,
        }),
        hostname: name.into(),
        labels: [("app".to_string(), name.to_string())].into(),
        ..Default::default()
    }
}

pub fn run_request(config: cri::PodSandboxConfig) -> Request<cri::RunPodSandboxRequest> {
    Request::new(cri::RunPodSandboxRequest {
        config: Some(config),
        runtime_handler: String::new(),
    })
}

pub fn container_config(name: &str, image: &str) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        command: vec!["true".into()],
        ..Default::default()
    }
}
