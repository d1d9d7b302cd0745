//! What the kubelet's node provides around the CRI calls it makes: the
//! paths its requests name (its root dir, its pod log dir, a host path) and
//! the files and dirs it creates before asking for a mount of them.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

use crate::cgroup::CgroupParent;
use crate::daemon::Daemon;
use crate::mounts::SharedMount;

/// The host path the recorded `c`/`c0`/`j2` pods mount (`hostPath`).
const RECORDED_HOST_PATH: &str = "/tmp/criproxy-hostpath";

/// A stand-in for the recorded node, in temp dirs of this test.
pub struct Node {
    // Declared first: unmounted before the dir below is removed.
    _shared: Option<SharedMount>,
    kubelet_root: tempfile::TempDir,
    log_dir: PathBuf,
    cgroup_parent: String,
}

impl Node {
    /// `<KUBELET_ROOT>` becomes a fresh temp dir, `<LOG_DIR>` the daemon's
    /// logs dir, `/kubepods…` a cgroup under `cgroup`. The recorded host
    /// path becomes a dir in the kubelet root, made a shared mount when
    /// `shared_host_path` (as it was for `c`, not for `c0`).
    pub fn new(
        daemon: &Daemon,
        cgroup: &CgroupParent,
        shared_host_path: bool,
    ) -> anyhow::Result<Self> {
        let kubelet_root = tempfile::Builder::new().prefix("kr-").tempdir_in("/tmp")?;
        let host_path = kubelet_root.path().join("hostpath");
        std::fs::create_dir_all(&host_path)?;
        let shared = shared_host_path
            .then(|| SharedMount::new(&host_path))
            .transpose()?;
        Ok(Node {
            _shared: shared,
            kubelet_root,
            log_dir: daemon.logs_dir(),
            cgroup_parent: cgroup.path().to_string(),
        })
    }

    /// The stand-in for the recorded kubelet's root dir.
    pub fn kubelet_root(&self) -> &Path {
        self.kubelet_root.path()
    }

    /// The string with the recorded node's paths replaced by this one's,
    /// or `None` when it names none of them.
    pub fn rewrite(&self, s: &str) -> Option<String> {
        let root = self.kubelet_root().display().to_string();
        if let Some(rest) = s.strip_prefix("<KUBELET_ROOT>") {
            return Some(format!("{root}{rest}"));
        }
        if let Some(rest) = s.strip_prefix("<LOG_DIR>") {
            return Some(format!("{}{rest}", self.log_dir.display()));
        }
        if let Some(rest) = s.strip_prefix(RECORDED_HOST_PATH) {
            return Some(format!("{root}/hostpath{rest}"));
        }
        if s == "/kubepods" || s.starts_with("/kubepods/") {
            return Some(format!("{}{s}", self.cgroup_parent));
        }
        None
    }

    /// Creates what the kubelet creates before the (rewritten) request:
    /// the pod's log dir, and the host side of every bind mount under its
    /// root (etc-hosts and termination-log files, emptyDir and volume dirs,
    /// subPath files), which a runtime cannot mount when missing.
    pub fn prepare(&self, method: &str, request: &Value) -> anyhow::Result<()> {
        match method {
            "RunPodSandbox" => {
                if let Some(dir) = request["config"]["log_directory"].as_str()
                    && !dir.is_empty()
                {
                    std::fs::create_dir_all(dir).with_context(|| format!("mkdir {dir}"))?;
                }
            }
            "CreateContainer" => {
                let mounts = request["config"]["mounts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for mount in mounts {
                    let host = mount["host_path"].as_str().unwrap_or_default();
                    let container = mount["container_path"].as_str().unwrap_or_default();
                    if host.starts_with(self.kubelet_root().to_str().unwrap_or("-")) {
                        make_mount_source(Path::new(host), container)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The kubelet's files are `etc-hosts`, the termination-message files
/// under `containers/<name>/` and subPath binds of files (a container path
/// with an extension); everything else it mounts is a dir.
fn make_mount_source(host: &Path, container_path: &str) -> anyhow::Result<()> {
    if host.exists() {
        return Ok(());
    }
    let text = host.to_string_lossy();
    let is_file = host.file_name().is_some_and(|n| n == "etc-hosts")
        || text.contains("/containers/")
        || (text.contains("/volume-subpaths/") && Path::new(container_path).extension().is_some());
    if is_file {
        if let Some(parent) = host.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(host, b"").with_context(|| format!("creating {}", host.display()))
    } else {
        std::fs::create_dir_all(host).with_context(|| format!("mkdir {}", host.display()))?;
        if text.contains("/kubernetes.io~empty-dir/") {
            // The kubelet makes emptyDir volumes world-writable.
            std::fs::set_permissions(host, std::fs::Permissions::from_mode(0o777))?;
        }
        Ok(())
    }
}
