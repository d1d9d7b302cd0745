//! `cradled` in a fresh temp dir, restartable on the same dirs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::client::Cri;

/// A running `cradled` with its own root, state dir, socket and (empty) CNI
/// config dir, all under one temp dir. SIGTERM on drop; the temp dir is then
/// removed (unmounting nothing: a leftover mount is a leak the test reports).
pub struct Daemon {
    dir: tempfile::TempDir,
    /// `<dir>/s`, or a path of [`LONG_STATE_DIR`] bytes below it.
    state_dir: PathBuf,
    child: Option<Child>,
    /// Extra environment of the next starts (see [`Daemon::set_env`]).
    env: Vec<(String, String)>,
}

/// The length of the state dir of [`Daemon::start_with_long_state_dir`]:
/// far past the 107 bytes of a unix socket path, which the shim's and the
/// exec consoles' sockets below it must not depend on.
pub const LONG_STATE_DIR: usize = 200;

impl Daemon {
    /// Starts `target/<profile>/cradled` and waits for its socket.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with_config("")
    }

    /// Starts `cradled` with `config_toml` as its config file (e.g.
    /// `cni_bin_dirs = [...]`); the flags still set its dirs and socket.
    pub fn start_with_config(config_toml: &str) -> anyhow::Result<Self> {
        Self::start_in(config_toml, false, &[])
    }

    /// Starts `cradled` with `config_toml` and the extra environment `env`
    /// (e.g. `CRADLE_FAULT`), kept for restarts until [`Daemon::set_env`]
    /// changes it.
    pub fn start_with_env(config_toml: &str, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_in(config_toml, false, env)
    }

    /// Starts `cradled` with `config_toml` and a state dir of
    /// [`LONG_STATE_DIR`] bytes.
    pub fn start_with_long_state_dir(config_toml: &str) -> anyhow::Result<Self> {
        Self::start_in(config_toml, true, &[])
    }

    fn start_in(
        config_toml: &str,
        long_state_dir: bool,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("ce-").tempdir_in("/tmp")?;
        let mut state_dir = dir.path().join("s");
        while long_state_dir && state_dir.as_os_str().len() < LONG_STATE_DIR {
            state_dir.push("a-state-dir-of-two-hundred-bytes");
        }
        if long_state_dir {
            let padded = state_dir.to_string_lossy()[..LONG_STATE_DIR].to_string();
            state_dir = PathBuf::from(padded.trim_end_matches('/'));
        }
        std::fs::create_dir_all(&state_dir)?;
        for sub in ["r", "cni", "logs"] {
            std::fs::create_dir_all(dir.path().join(sub))?;
        }
        // An explicit config file (empty by default): the host's
        // /etc/cradle/config.toml must not leak into the test.
        // `CRADLE_OCI_BIN` and `CRADLE_SHIM_BIN` (set by hack/test.sh) run
        // the suite on the builds that ship instead of cargo's dev builds.
        let mut shipped = String::new();
        for (var, key) in [
            ("CRADLE_OCI_BIN", "oci_runtime_path"),
            ("CRADLE_SHIM_BIN", "shim_path"),
        ] {
            if let Ok(path) = std::env::var(var) {
                shipped.push_str(&format!("{key} = {path:?}\n"));
            }
        }
        std::fs::write(
            dir.path().join("config.toml"),
            format!("{shipped}{config_toml}"),
        )?;
        let mut daemon = Daemon {
            dir,
            state_dir,
            child: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        daemon.spawn()?;
        Ok(daemon)
    }

    /// The temp dir holding everything of this daemon.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// The CRI socket cradled listens on.
    pub fn socket(&self) -> PathBuf {
        self.dir().join("cri.sock")
    }
    /// cradled's `--root` (images, snapshots, the store), kept across restarts.
    pub fn root(&self) -> PathBuf {
        self.dir().join("r")
    }
    /// cradled's `--state-dir` (shim sockets, runtime state), kept across restarts.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone()
    }
    /// A place for pod log directories (what the kubelet's /var/log/pods is).
    pub fn logs_dir(&self) -> PathBuf {
        self.dir().join("logs")
    }
    /// The CNI configuration directory the daemon watches (empty at start).
    pub fn cni_conf_dir(&self) -> PathBuf {
        self.dir().join("cni")
    }
    /// cradled's pid while it runs (for signalling it or finding its children).
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().and_then(|c| i32::try_from(c.id()).ok())
    }

    /// The daemon's stderr so far (to print when a test fails).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("cradled.log")).unwrap_or_default()
    }

    /// Connects the CRI clients to the socket.
    pub async fn connect(&self) -> anyhow::Result<Cri> {
        Cri::connect(&self.socket()).await
    }

    /// SIGTERM, then waits for the exit (SIGKILL after 15 s). Containers and
    /// shims keep running, as on a real node.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = Pid::from_raw(i32::try_from(child.id())?);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!("cradled exited with {status} after SIGTERM");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("cradled did not exit within 15 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sets (`Some`) or unsets (`None`) environment variable `key` for the
    /// daemon's next starts (e.g. `CRADLE_FAULT` before a [`Daemon::restart`]).
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            self.env.push((key.to_string(), value.to_string()));
        }
    }

    /// Waits up to `timeout` for the daemon to exit on its own (a crash the
    /// test caused); its exit status, and the daemon is forgotten, or `None`
    /// if it is still running (or was not).
    pub fn wait_for_exit(
        &mut self,
        timeout: Duration,
    ) -> anyhow::Result<Option<std::process::ExitStatus>> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the daemon (if it still runs) and starts it again on the same dirs.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        self.spawn()
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let bin = crate::paths::target_bin_dir()?.join("cradled");
        check_binaries_are_fresh()?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir().join("cradled.log"))?;
        let child = Command::new(&bin)
            .arg("--config")
            .arg(self.dir().join("config.toml"))
            .arg("--socket")
            .arg(self.socket())
            .arg("--root")
            .arg(self.root())
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--cni-conf-dir")
            .arg(self.dir().join("cni"))
            .arg("--log-level")
            .arg("info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        self.child = Some(child);
        self.wait_for_socket()
    }

    fn wait_for_socket(&mut self) -> anyhow::Result<()> {
        let (socket, log) = (self.socket(), self.dir().join("cradled.log"));
        wait_for_socket("cradled", &mut self.child, &socket, &log)
    }
}

/// Waits up to 20 s until `socket` accepts connections; fails with the
/// daemon's log when `child` exits first (and forgets it).
pub(crate) fn wait_for_socket(
    name: &str,
    child: &mut Option<Child>,
    socket: &Path,
    log: &Path,
) -> anyhow::Result<()> {
    let read_log = || std::fs::read_to_string(log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return Ok(());
        }
        if let Some(c) = child.as_mut()
            && let Some(status) = c.try_wait()?
        {
            *child = None;
            bail!("{name} exited early with {status}:\n{}", read_log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{name} socket did not appear within 20 s:\n{}", read_log())
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("cradled stop: {e:#}\n{}", self.log());
        }
        if std::thread::panicking() {
            eprintln!("---- cradled log ----\n{}", self.log());
        }
        // A failed test may leave shims and mounts behind: the leak check
        // has reported them by now; clear them so the machine stays usable.
        force_cleanup(self.dir());
    }
}

/// `cargo test -p cradle-tests` does not rebuild the daemon's and shim's
/// binaries: say so when they are older than their sources, so a failure
/// against stale binaries is not a mystery. (A warning, not an error: in a
/// tree others keep editing, the binaries are stale most of the time.)
fn check_binaries_are_fresh() -> anyhow::Result<()> {
    let bins = crate::paths::target_bin_dir()?;
    let inputs: [(&str, &[&str]); 3] = [
        (
            "cradled",
            &["proto", "runtime-daemon", "snapshotter", "cni"],
        ),
        ("cradle-shim", &["proto", "oci-shim"]),
        ("cradle-oci", &["proto", "oci-shim"]),
    ];
    for (name, crates) in inputs {
        let bin = bins.join(name);
        let built = std::fs::metadata(&bin)
            .and_then(|m| m.modified())
            .with_context(|| {
                format!(
                    "{} is missing: run cargo build --workspace --bins",
                    bin.display()
                )
            })?;
        let newest_source = crates
            .iter()
            .filter_map(|c| newest_mtime(&crate::paths::repo_root().join(c).join("src")))
            .max();
        if newest_source.is_some_and(|src| src > built) {
            eprintln!(
                "WARNING: {} is older than its sources: run cargo build --workspace --bins",
                bin.display()
            );
        }
    }
    Ok(())
}

fn newest_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let path = entry.path();
        let t = if meta.is_dir() {
            newest_mtime(&path)
        } else if path.extension().is_some_and(|e| e == "rs") {
            meta.modified().ok()
        } else {
            None // cargo only rebuilds for the files it compiles
        };
        newest = newest.max(t);
    }
    newest
}

/// Kills every process whose command line mentions `dir` (shims, pause
/// processes) and lazily unmounts everything under it, newest first.
pub(crate) fn force_cleanup(dir: &Path) {
    let scope = crate::leaks::Scope {
        dirs: vec![dir.to_path_buf()],
        ..Default::default()
    };
    for pid in crate::leaks::mentioning_processes(&scope) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let prefix = dir.to_string_lossy().to_string();
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let points: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|p| p.starts_with(prefix.as_str()))
        .collect();
    for point in points.into_iter().rev() {
        let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
    }
}
