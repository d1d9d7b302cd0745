//! Running the OCI runtime's verbs (`create`, `start`, `kill`, `delete`).
//!
//! Every verb is `<runtime> --root <root> [flags] <verb> …`, the runc command line
//! that `cradle-oci`, runc and crun share. Each runs to completion before the
//! shim goes on; their output is captured for error messages.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::ShimError;

/// The container's stdio for `create`: its stdin (a pipe, or /dev/null when
/// `None`), stdout and stderr pipes become the runtime's own (it hands them to
/// the init); a tty container gets a pty instead, whose master the runtime
/// sends to `console_socket`, and the pipes then carry only the runtime's
/// own messages.
#[derive(Debug)]
pub struct CreateIo<'a> {
    /// The console socket, in terminal mode.
    pub console_socket: Option<&'a Path>,
    /// The container's stdin, when it has one.
    pub stdin: Option<OwnedFd>,
    /// Where the container's stdout goes.
    pub stdout: OwnedFd,
    /// Where the container's stderr goes.
    pub stderr: OwnedFd,
}

/// An OCI runtime binary and its state root.
#[derive(Debug, Clone)]
pub struct Runtime {
    binary: PathBuf,
    root: PathBuf,
    args: Vec<std::ffi::OsString>,
    log: Option<PathBuf>,
}

impl Runtime {
    /// The runtime `binary`, keeping its state under `root`.
    pub fn new(binary: PathBuf, root: PathBuf) -> Runtime {
        Runtime {
            binary,
            root,
            args: Vec::new(),
            log: None,
        }
    }

    /// More global flags (`--systemd-cgroup`, a handler's extra flags),
    /// given to every verb after `--root`.
    pub fn with_args(mut self, args: Vec<std::ffi::OsString>) -> Runtime {
        self.args = args;
        self
    }

    /// Send the runtime's own warnings to `log` (its global `--log`, which runc
    /// and cradle-oci share) instead of its stderr, which during `create` is the
    /// container's stderr: they would otherwise land in the container log.
    /// Errors are still printed on stderr by both.
    pub fn with_log(mut self, log: PathBuf) -> Runtime {
        self.log = Some(log);
        self
    }

    fn command(&self, verb: &str) -> Command {
        let mut command = Command::new(&self.binary);
        command.arg("--root").arg(&self.root).args(&self.args);
        if let Some(log) = &self.log {
            command.arg("--log").arg(log);
        }
        command.arg(verb);
        command.stdin(Stdio::null());
        command
    }

    /// `create --bundle B --pid-file P [--console-socket S] ID` with `io`
    /// (see [`CreateIo`]). On failure the runtime's message is on the stderr
    /// pipe, which the caller reads.
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        io: CreateIo<'_>,
    ) -> Result<(), ShimError> {
        let mut command = self.command("create");
        command
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(pid_file);
        if let Some(socket) = io.console_socket {
            command.arg("--console-socket").arg(socket);
        }
        command
            .arg(id)
            .stdout(Stdio::from(io.stdout))
            .stderr(Stdio::from(io.stderr));
        if let Some(stdin) = io.stdin {
            command.stdin(Stdio::from(stdin));
        }
        let status = command.status().map_err(ShimError::io(format!(
            "running {} create",
            self.binary.display()
        )))?;
        // Dropping the command closes the shim's copies of the pipes' write ends,
        // so the pipes reach EOF when the container's processes are gone.
        drop(command);
        if status.success() {
            Ok(())
        } else {
            Err(ShimError::Runtime {
                command: format!("{} create {id}", self.binary.display()),
                message: status.to_string(),
            })
        }
    }

    /// `start ID`.
    pub fn start(&self, id: &str) -> Result<(), ShimError> {
        let mut command = self.command("start");
        command.arg(id);
        self.run(command, "start", id)
    }

    /// `kill [--all] ID SIGNAL`.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), ShimError> {
        let mut command = self.command("kill");
        if all {
            command.arg("--all");
        }
        command.arg(id).arg(signal.to_string());
        self.run(command, "kill", id)
    }

    /// `delete --force ID`.
    pub fn delete(&self, id: &str) -> Result<(), ShimError> {
        let mut command = self.command("delete");
        command.arg("--force").arg(id);
        self.run(command, "delete", id)
    }

    /// True when the runtime still knows the container (`state ID` succeeds).
    pub fn knows(&self, id: &str) -> bool {
        let mut command = self.command("state");
        command.arg(id);
        self.run(command, "state", id).is_ok()
    }

    fn run(&self, mut command: Command, verb: &str, id: &str) -> Result<(), ShimError> {
        let Output {
            status,
            stdout,
            stderr,
        } = command.output().map_err(ShimError::io(format!(
            "running {} {verb}",
            self.binary.display()
        )))?;
        if status.success() {
            return Ok(());
        }
        let mut message = String::from_utf8_lossy(&stderr).trim().to_string();
        if message.is_empty() {
            message = String::from_utf8_lossy(&stdout).trim().to_string();
        }
        if message.is_empty() {
            message = status.to_string();
        }
        Err(ShimError::Runtime {
            command: format!("{} {verb} {id}", self.binary.display()),
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_runtime_reports_its_stderr() {
        let runtime = Runtime::new(PathBuf::from("/bin/sh"), PathBuf::from("/nonexistent"));
        // `/bin/sh --root …` fails with a message about the unknown option.
        let error = runtime.start("abc").unwrap_err();
        assert!(matches!(error, ShimError::Runtime { .. }), "{error}");
    }

    #[test]
    fn missing_runtime_binary_is_an_io_error() {
        let runtime = Runtime::new(PathBuf::from("/nonexistent/runc"), PathBuf::from("/tmp"));
        assert!(matches!(
            runtime.delete("abc").unwrap_err(),
            ShimError::Io { .. }
        ));
    }
}
