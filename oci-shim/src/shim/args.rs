//! The command line, a fixed contract with `cradled`.
//!
//! ```text
//! cradle-shim container --id ID --bundle DIR --runtime PATH --runtime-root DIR [--runtime-arg FLAG]… --state-dir DIR [--log-path FILE] [--stdin [--stdin-once]]
//! cradle-shim sandbox   --id ID --state-dir DIR --netns PATH --ipcns PATH --utsns PATH
//!                       [--cgroup CGROUP_PATH [--systemd-cgroup]] [--uid-map C:H:L --gid-map C:H:L]
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
    /// More global flags of the runtime (`--systemd-cgroup`, the handler's
    /// extra flags), given to every verb after `--root`.
    pub runtime_args: Vec<std::ffi::OsString>,
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
    /// Pod cgroup path (relative to each hierarchy's root) for the pause
    /// process; with `systemd_cgroup`, the systemd driver's
    /// `slice:prefix:name`.
    pub cgroup: Option<String>,
    /// `--systemd-cgroup`: the pause goes into the transient scope `cgroup`
    /// names, which systemd creates (see [`crate::cgroups::systemd`]).
    pub systemd_cgroup: bool,
    /// The pod's user namespace: `uid_map` lines (`container host size`),
    /// given with `gid_map`. Empty: the node's user namespace.
    pub uid_map: Vec<IdMap>,
    /// The pod's user namespace: `gid_map` lines.
    pub gid_map: Vec<IdMap>,
}

/// One id mapping of a user namespace, `--uid-map C:H:L` on the command
/// line: `L` ids from `C` inside map to `H` on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    /// First id inside the namespace.
    pub container: u32,
    /// First id on the host.
    pub host: u32,
    /// How many ids.
    pub size: u32,
}

impl IdMap {
    /// Parses `C:H:L`; a zero size or a range past `u32::MAX` is refused.
    pub fn parse(text: &str) -> Result<IdMap, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let num = |s: &str| {
            s.parse::<u32>()
                .map_err(|e| format!("id map {text:?}: {e}"))
        };
        let [c, h, l] = parts.as_slice() else {
            return Err(format!("id map {text:?}: want CONTAINER:HOST:SIZE"));
        };
        let map = IdMap {
            container: num(c)?,
            host: num(h)?,
            size: num(l)?,
        };
        let fits = |start: u32| start.checked_add(map.size - 1).is_some();
        if map.size == 0 || !fits(map.container) || !fits(map.host) {
            return Err(format!(
                "id map {text:?}: empty or past the 32-bit id range"
            ));
        }
        Ok(map)
    }

    /// The line `/proc/<pid>/uid_map` takes.
    pub fn line(&self) -> String {
        format!("{} {} {}\n", self.container, self.host, self.size)
    }
}

/// What a `--help` prints.
pub const USAGE: &str = "\
cradle-shim: Cradle's per-container monitor (started by cradled)

Usage:
  cradle-shim container --id ID --bundle DIR --runtime PATH --runtime-root DIR --state-dir DIR
                        [--runtime-arg FLAG]... [--log-path FILE] [--stdin [--stdin-once]]
  cradle-shim sandbox   --id ID --state-dir DIR --netns PATH --ipcns PATH --utsns PATH
                        [--cgroup CGROUP_PATH [--systemd-cgroup]] [--uid-map C:H:L --gid-map C:H:L]
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
    let (mut stdin, mut stdin_once, mut systemd_cgroup) = (false, false, false);
    let mut runtime_args = Vec::new();
    let (mut uid_map, mut gid_map) = (Vec::new(), Vec::new());
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
            Long("runtime-arg") => runtime_args.push(p.value()?),
            Long("log-path") => log_path = Some(PathBuf::from(p.value()?)),
            Long("stdin") => stdin = true,
            Long("stdin-once") => stdin_once = true,
            Long("netns") => netns = Some(PathBuf::from(p.value()?)),
            Long("ipcns") => ipcns = Some(PathBuf::from(p.value()?)),
            Long("utsns") => utsns = Some(PathBuf::from(p.value()?)),
            Long("cgroup") => cgroup = Some(p.value()?.string()?),
            Long("systemd-cgroup") => systemd_cgroup = true,
            Long("uid-map") => uid_map.push(IdMap::parse(&p.value()?.string()?)?),
            Long("gid-map") => gid_map.push(IdMap::parse(&p.value()?.string()?)?),
            other => return Err(other.unexpected()),
        }
    }
    let mode = match mode.as_deref() {
        Some("container") => {
            if netns.is_some()
                || ipcns.is_some()
                || utsns.is_some()
                || cgroup.is_some()
                || systemd_cgroup
                || !uid_map.is_empty()
                || !gid_map.is_empty()
            {
                return Err(
                    "container: --netns/--ipcns/--utsns/--cgroup/--systemd-cgroup/--uid-map/--gid-map \
                     are sandbox flags (the runtime's --systemd-cgroup is a --runtime-arg)"
                        .into(),
                );
            }
            if stdin_once && !stdin {
                return Err("--stdin-once requires --stdin".into());
            }
            Mode::Container(ContainerArgs {
                id: required(id, "id")?,
                bundle: required(bundle, "bundle")?,
                runtime: required(runtime, "runtime")?,
                runtime_root: required(runtime_root, "runtime-root")?,
                runtime_args,
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
                || !runtime_args.is_empty()
                || log_path.is_some()
                || stdin
                || stdin_once
            {
                return Err(
                    "sandbox: --bundle/--runtime/--runtime-root/--log-path/--stdin are container flags"
                        .into(),
                );
            }
            if uid_map.is_empty() != gid_map.is_empty() {
                return Err("sandbox: --uid-map and --gid-map go together".into());
            }
            if systemd_cgroup && cgroup.is_none() {
                return Err("sandbox: --systemd-cgroup needs --cgroup SLICE:PREFIX:NAME".into());
            }
            Mode::Sandbox(SandboxArgs {
                id: required(id, "id")?,
                state_dir: required(state_dir, "state-dir")?,
                netns: required(netns, "netns")?,
                ipcns: required(ipcns, "ipcns")?,
                utsns: required(utsns, "utsns")?,
                cgroup,
                systemd_cgroup,
                uid_map,
                gid_map,
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

    /// A sandbox command line with every required flag, then `extra`.
    fn sandbox_with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
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
        ];
        v.extend_from_slice(extra);
        v
    }

    /// A container command line with every required flag, then `extra`.
    fn container_with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
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
        ];
        v.extend_from_slice(extra);
        v
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
            "--runtime-arg",
            "--systemd-cgroup",
            "--runtime-arg=--debug",
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
        assert_eq!(c.runtime_args, ["--systemd-cgroup", "--debug"]);
    }

    #[test]
    fn the_daemons_sandbox_command_line_parses() {
        let Mode::Sandbox(s) = parse_ok(&sandbox_with(&["--cgroup=/kubepods/p1"])) else {
            panic!("not sandbox")
        };
        assert_eq!(s.cgroup.as_deref(), Some("/kubepods/p1"));
        assert!(!s.systemd_cgroup);
        assert!(s.uid_map.is_empty() && s.gid_map.is_empty());
    }

    #[test]
    fn the_systemd_drivers_sandbox_command_line_parses() {
        let path = "kubepods-besteffort-pod1.slice:cri-cradle:p1";
        let Mode::Sandbox(s) = parse_ok(&sandbox_with(&["--cgroup", path, "--systemd-cgroup"]))
        else {
            panic!("not sandbox")
        };
        assert_eq!(s.cgroup.as_deref(), Some(path));
        assert!(s.systemd_cgroup);
        assert!(parse_err(&sandbox_with(&["--systemd-cgroup"])).contains("needs --cgroup"));
        let container = container_with(&["--systemd-cgroup"]);
        assert!(parse_err(&container).contains("sandbox flags"));
    }

    #[test]
    fn a_pod_user_namespace_is_given_as_id_maps() {
        let Mode::Sandbox(s) = parse_ok(&sandbox_with(&[
            "--uid-map",
            "0:1000:100000",
            "--gid-map=0:2000:5",
        ])) else {
            panic!("not sandbox")
        };
        assert_eq!(s.uid_map[0].line(), "0 1000 100000\n");
        assert_eq!(s.gid_map[0].line(), "0 2000 5\n");
        assert!(parse_err(&sandbox_with(&["--uid-map", "0:1:2"])).contains("go together"));
        assert!(parse_err(&sandbox_with(&["--uid-map", "0:1"])).contains("CONTAINER:HOST:SIZE"));
        let past = ["--uid-map", "0:4294967295:2", "--gid-map", "0:1:1"];
        assert!(parse_err(&sandbox_with(&past)).contains("32-bit"));
        let empty = ["--uid-map", "0:1:0", "--gid-map", "0:1:1"];
        assert!(parse_err(&sandbox_with(&empty)).contains("empty"));
    }

    #[test]
    fn missing_and_misplaced_flags_are_named() {
        assert!(parse_err(&["container", "--id", "c1"]).contains("--bundle is required"));
        assert!(
            parse_err(&container_with(&["--stdin-once"])).contains("--stdin-once requires --stdin")
        );
        assert!(parse_err(&["sandbox", "--bundle", "/b"]).contains("container flags"));
        assert!(parse_err(&["pod"]).contains("unknown mode"));
        assert!(parse_err(&[]).contains("give a mode"));
    }
}
