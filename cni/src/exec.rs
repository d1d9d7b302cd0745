//! Running one plugin binary the way the CNI spec says: configuration on
//! stdin, parameters in `CNI_*` environment variables, result or error JSON
//! on stdout, all within a deadline.
//!
//! The plugin runs in its own process group so a timeout kills it together
//! with anything it spawned (iptables, IPAM helpers). Like libcni, the
//! runtime's environment is passed on (some plugins read their own settings
//! from it), except inherited `CNI_*` variables, which only the call sets.

use serde::Deserialize;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Why a plugin call failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// No executable of that name in any plugin directory (or the name is a path).
    #[error("plugin {plugin:?} not found in {dirs:?}")]
    NotFound {
        /// The plugin type the configuration named.
        plugin: String,
        /// The directories searched.
        dirs: Vec<PathBuf>,
    },
    /// The binary was found but could not be started.
    #[error("starting {}: {source}", binary.display())]
    Spawn {
        /// The plugin binary.
        binary: PathBuf,
        /// Why it did not start.
        source: std::io::Error,
    },
    /// The plugin ran past its deadline; its process group was killed.
    #[error("{} did not finish within {timeout:?} and was killed", binary.display())]
    Timeout {
        /// The plugin binary.
        binary: PathBuf,
        /// The deadline it missed.
        timeout: Duration,
    },
    /// The plugin reported an error in the spec's error format.
    #[error("{msg}{}", if details.is_empty() { String::new() } else { format!(": {details}") })]
    Plugin {
        /// The spec's error code (1-99 reserved by the spec, 100+ the plugin's own).
        code: u32,
        /// The plugin's message.
        msg: String,
        /// The plugin's longer explanation; may be empty.
        details: String,
    },
    /// The plugin failed without a parseable error.
    #[error("{} exited with {status}: {output}", binary.display())]
    Failed {
        /// The plugin binary.
        binary: PathBuf,
        /// How it exited (exit code or signal), as the OS reports it.
        status: String,
        /// What it printed, for the operator to read.
        output: String,
    },
}

/// The spec's error object.
#[derive(Debug, Deserialize)]
struct PluginError {
    #[serde(default)]
    code: u32,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    details: String,
}

/// The first executable named `plugin` in `dirs`. Plugin types with a path
/// separator are refused: a configuration must not run arbitrary binaries.
pub fn find_plugin(plugin: &str, dirs: &[PathBuf]) -> Result<PathBuf, ExecError> {
    let not_found = || ExecError::NotFound {
        plugin: plugin.to_string(),
        dirs: dirs.to_vec(),
    };
    if plugin.is_empty() || plugin.contains('/') || plugin == "." || plugin == ".." {
        return Err(not_found());
    }
    dirs.iter()
        .map(|dir| dir.join(plugin))
        .find(|path| is_executable(path))
        .ok_or_else(not_found)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `binary` with `env` added to the runtime's environment (stale
/// `CNI_*` removed) and `stdin`; returns its stdout on success. A non-zero exit becomes [`ExecError::Plugin`] when
/// stdout holds the spec's error JSON, [`ExecError::Failed`] otherwise.
pub fn run(
    binary: &Path,
    env: &[(String, String)],
    stdin: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, ExecError> {
    let spawn_error = |source| ExecError::Spawn {
        binary: binary.to_path_buf(),
        source,
    };
    let mut child = plugin_command(binary, env).spawn().map_err(spawn_error)?;
    let pid = child.id();
    let (input, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    // Writing happens on its own thread so a plugin that never reads its
    // stdin cannot block us past the deadline.
    let input_bytes = stdin.to_vec();
    std::thread::spawn(move || {
        if let Some(mut input) = input {
            let _ = input.write_all(&input_bytes);
        }
    });
    // stderr is only read for failures; a plugin's daemonized helper may
    // hold it open long after the plugin exits, so it is never waited on
    // for long.
    let (err_tx, err_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = err_tx.send(read_all(stderr));
    });
    // The waiter owns the child: it reads stdout to its end, then reaps.
    // Until it has reaped, the pid (and process group) cannot be reused, so
    // a timeout may kill it safely from here.
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let out = read_all(stdout);
        let status = child.wait();
        let _ = done_tx.send((out, status));
    });
    let (out, status) = match done_rx.recv_timeout(timeout) {
        Ok(done) => done,
        Err(_) => {
            kill_group(pid);
            // The group is dead, so the waiter finishes promptly.
            let _ = done_rx.recv_timeout(Duration::from_secs(5));
            return Err(ExecError::Timeout {
                binary: binary.to_path_buf(),
                timeout,
            });
        }
    };
    let status = status.map_err(spawn_error)?;
    if status.success() {
        return Ok(out);
    }
    Err(failure(binary, status, out, &err_rx))
}

/// The command for `binary`: the runtime's environment without inherited
/// `CNI_*` (and a default `PATH` when it has none) plus `env`, all three
/// standard streams piped, in a process group of its own.
fn plugin_command(binary: &Path, env: &[(String, String)]) -> Command {
    let mut command = Command::new(binary);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CNI_") {
            command.env_remove(key);
        }
    }
    if std::env::var_os("PATH").is_none() {
        command.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    }
    command
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    command
}

/// Why a plugin that exited with `status` failed: the spec's error on its
/// stdout `out`, else what it printed (stdout, or stderr when that was
/// empty; stderr is waited for a second at most).
fn failure(
    binary: &Path,
    status: std::process::ExitStatus,
    out: Vec<u8>,
    stderr: &mpsc::Receiver<Vec<u8>>,
) -> ExecError {
    let err = stderr
        .recv_timeout(Duration::from_secs(1))
        .unwrap_or_default();
    if let Some(e) = plugin_error(&out) {
        return e;
    }
    let text = if out.is_empty() { err } else { out };
    ExecError::Failed {
        binary: binary.to_path_buf(),
        status: status.to_string(),
        output: String::from_utf8_lossy(&text).trim().to_string(),
    }
}

/// The error a failed plugin reported on stdout, when it is the spec's
/// error object with a message.
pub(crate) fn plugin_error(out: &[u8]) -> Option<ExecError> {
    let e = serde_json::from_slice::<PluginError>(out).ok()?;
    if e.msg.is_empty() {
        return None;
    }
    Some(ExecError::Plugin {
        code: e.code,
        msg: e.msg,
        details: e.details,
    })
}

fn read_all<R: Read>(reader: Option<R>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut r) = reader {
        let _ = r.read_to_end(&mut buf);
    }
    buf
}

fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
