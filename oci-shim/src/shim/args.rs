//! The command line, a fixed contract with `cradled`.
//!
//! ```text
//! cradle-shim container --id ID --bundle DIR --runtime PATH --runtime-root DIR --state-dir DIR [--log-path FILE] [--stdin [--stdin-once]]
//! cradle-shim sandbox   --id ID --state-dir DIR --netns PATH --ipcns PATH --utsns PATH [--cgroup CGROUP_PATH]
//! ```
//!
//! Parsed with `lexopt`: one shim lives as long as its container, and a
//! derive framework's code would be most of what it maps.

use std::path::PathBuf;

use lexopt::Arg::{Long, Short, Value};
use lexopt::ValueExt;

/// `cradle-shim`'s arguments.
#[derive(Debug)]
pub struct Cli {
    /// Container or sandbox mode, with its arguments.
    pub mode: Mode,
}

/// What the shim watches.
#[derive(Debug)]
pub enum Mode {
    /// Create a container with an OCI runtime and watch its init.
    Container(ContainerArgs),
    /// Run the built-in pause process of a pod sandbox and watch it.
    Sandbox(SandboxArgs),
}

/// Arguments of `cradle-shim container`.
#[derive(Debug, Clone)]
pub struct ContainerArgs {
    /// Container id, passed to the runtime.
    pub id: String,
    /// OCI bundle directory (holds `config.json`).
    pub bundle: PathBuf,
    /// OCI runtime binary (`cradle-oci`, `runc`, `crun`).
    pub runtime: PathBuf,
    /// The runtime's `--root` state directory.
    pub runtime_root: PathBuf,
    /// The shim's own state directory (socket, pid files, exit record).
    pub state_dir: PathBuf,
    /// CRI log file; without it the container's output is drained and dropped.
    pub log_path: Option<PathBuf>,
    /// Give the init a stdin pipe that attach clients write to (else /dev/null).
    /// A tty container (`process.terminal` in its spec) reads its terminal
    /// instead, and attach clients write to that.
    pub stdin: bool,
    /// Close that pipe when the first attach that carried stdin ends (a
    /// terminal is never closed this way, as with containerd).
    pub stdin_once: bool,
}

/// Arguments of `cradle-shim sandbox`.
#[derive(Debug, Clone)]
pub struct SandboxArgs {
    /// Pod sandbox id.
    pub id: String,
    /// The shim's own state directory (socket, pid files, exit record).
    pub state_dir: PathBuf,
    /// Pinned network namespace to join.
    pub netns: PathBuf,
    /// Pinned IPC namespace to join.
    pub ipcns: PathBuf,
    /// Pinned UTS namespace to join.
    pub utsns: PathBuf,
    /// Pod cgroup path (relative to each hierarchy's root) for the pause process.
    pub cgroup: Option<String>,
}

/// What a `--help` prints.
pub const USAGE: &str = "\
cradle-shim: Cradle's per-container monitor (started by cradled)

Usage:
  cradle-shim container --id ID --bundle DIR --runtime PATH --runtime-root DIR --state-dir DIR
                        [--log-path FILE] [--stdin [--stdin-once]]
  cradle-shim sandbox   --id ID --state-dir DIR --netns PATH --ipcns PATH --utsns PATH
                        [--cgroup CGROUP_PATH]
  cradle-shim --version
";

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    /// Run the shim with these arguments.
    Run(Cli),
    /// `--help`: print the usage.
    Help,
    /// `--version`: print the version.
    Version,
}

impl Cli {
    /// Parses `std::env::args_os()`.
    pub fn parse_env() -> Result<Parsed, lexopt::Error> {
        parse(lexopt::Parser::from_env())
    }

    /// Parses `args` (without the program name).
    pub fn parse_from<I>(args: I) -> Result<Parsed, lexopt::Error>
    where
        I: IntoIterator,
        I::Item: Into<std::ffi::OsString>,
    {
        parse(lexopt::Parser::from_args(args))
    }
}

/// One flag's value, required.
fn required<T>(value: Option<T>, flag: &str) -> Result<T, lexopt::Error> {
    value.ok_or_else(|| format!("--{flag} is required").into())
}

fn parse(mut p: lexopt::Parser) -> Result<Parsed, lexopt::Error> {
    let mut mode: Option<String> = None;
    let (mut id, mut bundle, mut runtime, mut runtime_root, mut state_dir) =
        (None, None, None, None, None);
    let (mut log_path, mut netns, mut ipcns, mut utsns, mut cgroup) =
        (None, None, None, None, None);
    let (mut stdin, mut stdin_once) = (false, false);
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Parsed::Help),
            Short('V') | Long("version") => return Ok(Parsed::Version),
            Value(v) if mode.is_none() => mode = Some(v.string()?),
            Long("id") => id = Some(p.value()?.string()?),
            Long("state-dir") => state_dir = Some(PathBuf::from(p.value()?)),
            Long("bundle") => bundle = Some(PathBuf::from(p.value()?)),
            Long("runtime") => runtime = Some(PathBuf::from(p.value()?)),
            Long("runtime-root") => runtime_root = Some(PathBuf::from(p.value()?)),
            Long("log-path") => log_path = Some(PathBuf::from(p.value()?)),
            Long("stdin") => stdin = true,
            Long("stdin-once") => stdin_once = true,
            Long("netns") => netns = Some(PathBuf::from(p.value()?)),
            Long("ipcns") => ipcns = Some(PathBuf::from(p.value()?)),
            Long("utsns") => utsns = Some(PathBuf::from(p.value()?)),
            Long("cgroup") => cgroup = Some(p.value()?.string()?),
            other => return Err(other.unexpected()),
        }
    }
    let mode = match mode.as_deref() {
        Some("container") => {
            if netns.is_some() || ipcns.is_some() || utsns.is_some() || cgroup.is_some() {
                return Err("container: --netns/--ipcns/--utsns/--cgroup are sandbox flags".into());
            }
            if stdin_once && !stdin {
                return Err("--stdin-once requires --stdin".into());
            }
            Mode::Container(ContainerArgs {
                id: required(id, "id")?,
                bundle: required(bundle, "bundle")?,
                runtime: required(runtime, "runtime")?,
                runtime_root: required(runtime_root, "runtime-root")?,
                state_dir: required(state_dir, "state-dir")?,
                log_path,
                stdin,
                stdin_once,
            })
        }
        Some("sandbox") => {
            if bundle.is_some()
                || runtime.is_some()
                || runtime_root.is_some()
                || log_path.is_some()
                || stdin
                || stdin_once
            {
                return Err(
                    "sandbox: --bundle/--runtime/--runtime-root/--log-path/--stdin are container flags"
                        .into(),
                );
            }
            Mode::Sandbox(SandboxArgs {
                id: required(id, "id")?,
                state_dir: required(state_dir, "state-dir")?,
                netns: required(netns, "netns")?,
                ipcns: required(ipcns, "ipcns")?,
                utsns: required(utsns, "utsns")?,
                cgroup,
            })
        }
        Some(other) => return Err(format!("unknown mode {other:?}: container or sandbox").into()),
        None => return Err("give a mode: container or sandbox (see --help)".into()),
    };
    Ok(Parsed::Run(Cli { mode }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Mode {
        match Cli::parse_from(args.iter().copied()) {
            Ok(Parsed::Run(cli)) => cli.mode,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn parse_err(args: &[&str]) -> String {
        match Cli::parse_from(args.iter().copied()) {
            Err(e) => e.to_string(),
            Ok(other) => panic!("{args:?} parsed: {other:?}"),
        }
    }

    #[test]
    fn the_daemons_container_command_line_parses() {
        let Mode::Container(c) = parse_ok(&[
            "container",
            "--id",
            "c1",
            "--bundle",
            "/b",
            "--runtime",
            "cradle-oci",
            "--runtime-root",
            "/r",
            "--state-dir",
            "/s",
            "--log-path",
            "/l",
            "--stdin",
            "--stdin-once",
        ]) else {
            panic!("not container")
        };
        assert_eq!((c.id.as_str(), c.stdin, c.stdin_once), ("c1", true, true));
        assert_eq!(c.log_path, Some(PathBuf::from("/l")));
    }

    #[test]
    fn the_daemons_sandbox_command_line_parses() {
        let Mode::Sandbox(s) = parse_ok(&[
            "sandbox",
            "--id",
            "p1",
            "--state-dir",
            "/s",
            "--netns",
            "/n",
            "--ipcns",
            "/i",
            "--utsns",
            "/u",
            "--cgroup=/kubepods/p1",
        ]) else {
            panic!("not sandbox")
        };
        assert_eq!(s.cgroup.as_deref(), Some("/kubepods/p1"));
    }

    #[test]
    fn missing_and_misplaced_flags_are_named() {
        assert!(parse_err(&["container", "--id", "c1"]).contains("--bundle is required"));
        assert!(
            parse_err(&[
                "container",
                "--id",
                "c",
                "--bundle",
                "/b",
                "--runtime",
                "r",
                "--runtime-root",
                "/r",
                "--state-dir",
                "/s",
                "--stdin-once"
            ])
            .contains("--stdin-once requires --stdin")
        );
        assert!(parse_err(&["sandbox", "--bundle", "/b"]).contains("container flags"));
        assert!(parse_err(&["pod"]).contains("unknown mode"));
        assert!(parse_err(&[]).contains("give a mode"));
    }
}
