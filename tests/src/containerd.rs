//! Debian's containerd (1.6) in a fresh temp dir, with its CRI plugin's
//! runc-shaped runtimes pointed at OCI runtimes of the test's choosing: the
//! compatibility tests run cradle-oci as containerd's "runc".

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::client::Cri;

/// The containerd binary (from the `containerd` package).
pub const CONTAINERD: &str = "/usr/bin/containerd";
/// The runc v2 shim containerd starts per pod (same package).
pub const CONTAINERD_SHIM: &str = "/usr/bin/containerd-shim-runc-v2";
/// containerd's own client (same package), for what the CRI has no call for.
pub const CTR: &str = "/usr/bin/ctr";

/// Why containerd cannot run here, if it cannot.
pub fn containerd_missing() -> Option<String> {
    [CONTAINERD, CONTAINERD_SHIM, CTR]
        .iter()
        .find(|p| !Path::new(p).exists())
        .map(|p| format!("{p} is missing (containerd; run hack/install-deps.sh)"))
}

/// One runtime handler of the CRI plugin: an `io.containerd.runc.v2`
/// runtime whose `BinaryName` is `binary`, with its state under
/// `<temp dir>/rt-<name>` (the runtime's `--root`).
#[derive(Debug, Clone)]
pub struct Handler {
    /// The RuntimeHandler name pods ask for.
    pub name: String,
    /// The runc-compatible binary containerd's shim runs for it.
    pub binary: PathBuf,
}

/// A running containerd with its own root, state, sockets, CNI config dir,
/// registry hosts dir and runtime roots under one temp dir. On drop:
/// SIGTERM (SIGKILL after 10 s), every process that names the temp dir
/// (the shims) killed, every mount under it lazily unmounted, the dir
/// removed: even when the test failed.
pub struct Containerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    handlers: Vec<Handler>,
}

impl Containerd {
    /// Starts containerd with `handlers` (the first is the default runtime),
    /// `sandbox_image` as its pause image and `registry` (`127.0.0.1:PORT`)
    /// reachable over plain HTTP.
    pub fn start(
        handlers: &[Handler],
        sandbox_image: &str,
        registry: &str,
    ) -> anyhow::Result<Self> {
        // Short: the shim's socket path is derived from it.
        let dir = tempfile::Builder::new().prefix("ctd-").tempdir_in("/tmp")?;
        let d = dir.path();
        for sub in ["root", "state", "cni", "logs"] {
            std::fs::create_dir_all(d.join(sub))?;
        }
        let hosts = d.join("certs.d").join(registry);
        std::fs::create_dir_all(&hosts)?;
        std::fs::write(
            hosts.join("hosts.toml"),
            format!(
                "server = \"http://{registry}\"\n[host.\"http://{registry}\"]\n  \
                 capabilities = [\"pull\", \"resolve\"]\n"
            ),
        )?;
        // Pods use the host network (see the compat test), so no plugin
        // ever runs; containerd still wants a config to call the network ready.
        std::fs::write(
            d.join("cni/10-lo.conflist"),
            r#"{"cniVersion": "0.4.0", "name": "lo", "plugins": [{"type": "loopback"}]}"#,
        )?;
        let cni_bin = ["/opt/cni/bin", "/usr/lib/cni"]
            .into_iter()
            .find(|p| Path::new(p).join("loopback").exists())
            .unwrap_or("/usr/lib/cni");
        let default = handlers
            .first()
            .map(|h| h.name.clone())
            .context("containerd needs at least one runtime handler")?;
        let mut runtimes = String::new();
        for h in handlers {
            let root = d.join(format!("rt-{}", h.name));
            std::fs::create_dir_all(&root)?;
            let t = format!(
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{:?}]",
                h.name
            );
            runtimes.push_str(&format!(
                "{t}\n  runtime_type = \"io.containerd.runc.v2\"\n\
                 {o}\n  SystemdCgroup = false\n  BinaryName = {bin:?}\n  Root = {root:?}\n",
                o = t.replace("]", ".options]"),
                bin = h.binary.display().to_string(),
                root = root.display().to_string(),
            ));
        }
        let p = |s: &str| d.join(s).display().to_string();
        let config = format!(
            r#"version = 2
root = {root:?}
state = {state:?}
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = {sock:?}
[ttrpc]
  address = {ttrpc:?}
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = {sandbox_image:?}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # Root here may lack CAP_SYS_RESOURCE: never ask for a lower oom_score_adj.
  restrict_oom_score_adj = true
  # Any netns pin lives under the temp dir, where the clean-up looks.
  netns_mounts_under_state_dir = true
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = {default:?}
{runtimes}[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = {cni_bin:?}
  conf_dir = {cni:?}
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = {certs:?}
"#,
            root = p("root"),
            state = p("state"),
            sock = p("c.sock"),
            ttrpc = p("c.sock.ttrpc"),
            cni = p("cni"),
            certs = p("certs.d"),
        );
        std::fs::write(d.join("config.toml"), config)?;
        let mut ctd = Containerd {
            dir,
            child: None,
            handlers: handlers.to_vec(),
        };
        ctd.spawn()?;
        Ok(ctd)
    }

    /// The temp dir holding everything of this containerd.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// containerd's CRI (and API) socket.
    pub fn socket(&self) -> PathBuf {
        self.dir().join("c.sock")
    }
    /// A place for pod log directories.
    pub fn logs_dir(&self) -> PathBuf {
        self.dir().join("logs")
    }
    /// The `--root` containerd's shim passes to `handler`'s binary for the
    /// CRI's namespace (`k8s.io`).
    pub fn runtime_root(&self, handler: &str) -> PathBuf {
        self.dir().join(format!("rt-{handler}")).join("k8s.io")
    }
    /// The runtime handlers it was configured with.
    pub fn handlers(&self) -> &[Handler] {
        &self.handlers
    }
    /// containerd's pid while it runs.
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().and_then(|c| i32::try_from(c.id()).ok())
    }
    /// containerd's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("containerd.log")).unwrap_or_default()
    }

    /// Connects the CRI clients to containerd's socket.
    pub async fn connect(&self) -> anyhow::Result<Cri> {
        Cri::connect(&self.socket()).await
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir().join("containerd.log"))?;
        let child = Command::new(CONTAINERD)
            .arg("--config")
            .arg(self.dir().join("config.toml"))
            .arg("--log-level")
            .arg("warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {CONTAINERD}"))?;
        self.child = Some(child);
        let (socket, log) = (self.socket(), self.dir().join("containerd.log"));
        crate::daemon::wait_for_socket("containerd", &mut self.child, &socket, &log)
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("---- containerd log ----\n{}", self.log());
        }
        crate::daemon::force_cleanup(self.dir());
    }
}
