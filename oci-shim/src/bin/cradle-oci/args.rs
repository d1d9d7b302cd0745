//! runc's command line: global flags (before or after the verb), one verb,
//! its flags, its operands.
//!
//! Parsed with `lexopt` rather than a derive framework: the launcher runs
//! once per container operation and its peak RSS is mostly its own code, so
//! the parser is the few hundred bytes of logic below, not a framework.

use std::path::PathBuf;

use lexopt::Arg::{Long, Short, Value};
use lexopt::ValueExt;

use cradle_shim::oci;

/// Everything a `cradle-oci` invocation asks for.
pub struct Cli {
    /// Directory for container state.
    pub root: PathBuf,
    /// Write warnings and errors to this file instead of stderr.
    pub log: Option<PathBuf>,
    pub log_format: LogFormat,
    /// `--systemd-cgroup`: `create` and `run` place the container in a
    /// systemd scope (`cgroupsPath` is `slice:prefix:name`); the other
    /// verbs follow the driver recorded in the container's state.
    pub systemd_cgroup: bool,
    pub cmd: Cmd,
}

#[derive(Clone, Copy)]
pub enum LogFormat {
    Text,
    Json,
}

/// The options shared by `create` and `run`.
pub struct CreateArgs {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    /// `--no-new-keyring`: keep the caller's session keyring.
    pub no_new_keyring: bool,
    pub id: String,
}

pub struct ExecArgs {
    pub process: Option<PathBuf>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    pub user: Option<String>,
    /// `--apparmor PROFILE`: the exec'd process's AppArmor profile.
    pub apparmor: Option<String>,
    /// `--process-label LABEL`: the exec'd process's SELinux label.
    pub process_label: Option<String>,
    pub id: String,
    pub command: Vec<String>,
}

pub enum Cmd {
    Create(CreateArgs),
    Run {
        create: CreateArgs,
        detach: bool,
    },
    Start {
        id: String,
    },
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    State {
        id: String,
    },
    Kill {
        all: bool,
        id: String,
        signal: String,
    },
    Delete {
        force: bool,
        id: String,
    },
    Exec(ExecArgs),
    Update {
        resources: PathBuf,
        id: String,
    },
    Ps {
        format: String,
        id: String,
    },
    Features,
    /// `spec`: write a default config.json into the bundle.
    Spec {
        bundle: PathBuf,
        rootless: bool,
    },
    List {
        quiet: bool,
        format: String,
    },
    /// `--help` or `help`: print this text and exit 0.
    Help(&'static str),
    Version,
}

pub const USAGE: &str = "\
cradle-oci: Cradle's OCI runtime (runc-compatible command line)

Usage: cradle-oci [GLOBAL OPTIONS] COMMAND [OPTIONS] ARGS

Commands:
  create [--bundle DIR] [--pid-file F] [--console-socket S] [--preserve-fds N] [--no-pivot]
         [--no-new-keyring] ID
  run    [--bundle DIR] [--pid-file F] [--console-socket S] [--preserve-fds N] [--no-pivot]
         [--no-new-keyring] [--detach] ID
  start ID                     start a created container
  state ID                     print the OCI state JSON
  kill [--all] ID [SIGNAL]     send SIGNAL (default TERM)
  delete [--force] ID          delete a stopped container (any with --force)
  exec [--process F | COMMAND...] [--tty] [--console-socket S] [--detach] [--pid-file F]
       [--preserve-fds N] [--cwd DIR] [--env K=V]... [--user UID[:GID]]
       [--apparmor PROFILE] [--process-label LABEL] ID [COMMAND...]
  pause ID / resume ID         freeze / thaw every process of the container
  update --resources F|- ID    apply an OCI LinuxResources JSON to the cgroup
  ps [--format table|json] ID  the container's pids
  list [--quiet] [--format table|json]
  features                     the OCI features JSON
  spec [--bundle DIR] [--rootless]  write a default config.json (as runc spec)

Global options:
  --root DIR                   container state (default /run/cradle-oci)
  --log FILE                   warnings and errors go here instead of stderr
  --log-format text|json
  --systemd-cgroup             cgroups through systemd: cgroupsPath is slice:prefix:name
  --debug                      accepted for runc compatibility
  -h, --help / -v, --version
";

/// A verb's flags as they arrive, before the verb says which it allows.
#[derive(Default)]
struct Flags {
    bundle: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    preserve_fds: u32,
    no_pivot: bool,
    no_new_keyring: bool,
    detach: bool,
    all: bool,
    force: bool,
    process: Option<PathBuf>,
    tty: bool,
    cwd: Option<PathBuf>,
    env: Vec<String>,
    user: Option<String>,
    apparmor: Option<String>,
    process_label: Option<String>,
    resources: Option<PathBuf>,
    format: Option<String>,
    quiet: bool,
    rootless: bool,
}

/// Flags each verb accepts (by their long name).
fn allowed(verb: &str) -> &'static [&'static str] {
    const CREATE: &[&str] = &[
        "bundle",
        "pid-file",
        "console-socket",
        "preserve-fds",
        "no-pivot",
        "no-new-keyring",
    ];
    match verb {
        "create" => CREATE,
        "run" => &[
            "bundle",
            "pid-file",
            "console-socket",
            "preserve-fds",
            "no-pivot",
            "no-new-keyring",
            "detach",
        ],
        "kill" => &["all"],
        "delete" => &["force"],
        "exec" => &[
            "process",
            "tty",
            "console-socket",
            "detach",
            "pid-file",
            "preserve-fds",
            "cwd",
            "env",
            "user",
            "apparmor",
            "process-label",
        ],
        "update" => &["resources"],
        "ps" => &["format"],
        "list" => &["quiet", "format"],
        "spec" => &["bundle", "rootless"],
        _ => &[],
    }
}

/// Parses `std::env::args_os()`.
pub fn parse_env() -> Result<Cli, lexopt::Error> {
    parse(lexopt::Parser::from_env())
}

/// Parses `args` (without the program name), as the tests do.
#[cfg(test)]
pub fn parse_args<I: IntoIterator<Item = &'static str>>(args: I) -> Result<Cli, lexopt::Error> {
    parse(lexopt::Parser::from_args(args))
}

fn parse(mut p: lexopt::Parser) -> Result<Cli, lexopt::Error> {
    let mut root = PathBuf::from(oci::DEFAULT_ROOT);
    let mut log = None;
    let mut log_format = LogFormat::Text;
    let mut systemd_cgroup = false;
    let mut verb: Option<String> = None;
    let mut flags = Flags::default();
    let mut operands: Vec<String> = Vec::new();
    let mut command: Vec<String> = Vec::new();

    while let Some(arg) = p.next()? {
        let flag: &'static str = match arg {
            Long("root") => {
                root = p.value()?.into();
                continue;
            }
            Long("log") => {
                log = Some(p.value()?.into());
                continue;
            }
            Long("log-format") => {
                log_format = log_format_of(&p.value()?.string()?)?;
                continue;
            }
            Long("systemd-cgroup") => {
                systemd_cgroup = true;
                continue;
            }
            // --debug only raises runc's log level; ours has one level.
            Long("debug") => continue,
            Short('h') | Long("help") => return Ok(help(root, log, log_format)),
            Short('v') | Long("version") if verb.is_none() => {
                return Ok(Cli {
                    root,
                    log,
                    log_format,
                    systemd_cgroup,
                    cmd: Cmd::Version,
                });
            }
            Value(v) if verb.is_none() => {
                let v = v.string()?;
                if v == "help" {
                    return Ok(help(root, log, log_format));
                }
                verb = Some(v);
                continue;
            }
            Value(v) => {
                operands.push(v.string()?);
                // exec: everything after the id is the command, flags included.
                if verb.as_deref() == Some("exec") && operands.len() == 1 {
                    command = rest_as_command(&mut p)?;
                }
                continue;
            }
            other => {
                let Some(flag) = verb_flag(&other, verb.as_deref()) else {
                    return Err(other.unexpected());
                };
                store_flag(flag, &mut p, &mut flags)?;
                flag
            }
        };
        check_allowed(verb.as_deref().unwrap_or(""), flag)?;
    }

    let Some(verb) = verb else {
        return Err("no command given (see --help)".into());
    };
    let cmd = command_of(&verb, flags, operands, command)?;
    Ok(Cli {
        root,
        log,
        log_format,
        systemd_cgroup,
        cmd,
    })
}

/// `--log-format`'s value.
fn log_format_of(value: &str) -> Result<LogFormat, lexopt::Error> {
    match value {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("--log-format: {other:?} is neither \"text\" nor \"json\"").into()),
    }
}

/// exec's command: every argument left, flags included (a leading `--`
/// dropped).
fn rest_as_command(p: &mut lexopt::Parser) -> Result<Vec<String>, lexopt::Error> {
    let mut command = p
        .raw_args()?
        .map(|a| a.string())
        .collect::<Result<Vec<_>, _>>()?;
    if command.first().is_some_and(|a| a == "--") {
        command.remove(0);
    }
    Ok(command)
}

/// Refuses a flag the verb does not take, or one given before any verb.
fn check_allowed(verb: &str, flag: &str) -> Result<(), lexopt::Error> {
    if allowed(verb).contains(&flag) {
        return Ok(());
    }
    Err(if verb.is_empty() {
        format!("--{flag} belongs after a command (see --help)").into()
    } else {
        format!("{verb} does not take --{flag}").into()
    })
}

/// The verb flag `arg` names (`-f` is `--force` for `delete`, `--format`
/// for the others), or `None` for one no verb takes.
fn verb_flag(arg: &lexopt::Arg, verb: Option<&str>) -> Option<&'static str> {
    Some(match arg {
        Short('b') | Long("bundle") => "bundle",
        Long("pid-file") => "pid-file",
        Long("console-socket") => "console-socket",
        Long("preserve-fds") => "preserve-fds",
        Long("no-pivot") => "no-pivot",
        Long("no-new-keyring") => "no-new-keyring",
        Short('d') | Long("detach") => "detach",
        Short('a') | Long("all") => "all",
        Short('p') | Long("process") => "process",
        Short('t') | Long("tty") => "tty",
        Long("cwd") => "cwd",
        Short('e') | Long("env") => "env",
        Short('u') | Long("user") => "user",
        Long("apparmor") => "apparmor",
        Long("process-label") => "process-label",
        Short('r') | Long("resources") => "resources",
        Short('f') | Long("force") if verb == Some("delete") => "force",
        Short('f') | Long("format") => "format",
        Long("rootless") => "rootless",
        Short('q') | Long("quiet") => "quiet",
        _ => return None,
    })
}

/// Reads `flag`'s value, if it takes one, into `flags`.
fn store_flag(
    flag: &'static str,
    p: &mut lexopt::Parser,
    flags: &mut Flags,
) -> Result<(), lexopt::Error> {
    match flag {
        "bundle" => flags.bundle = Some(p.value()?.into()),
        "pid-file" => flags.pid_file = Some(p.value()?.into()),
        "console-socket" => flags.console_socket = Some(p.value()?.into()),
        "preserve-fds" => flags.preserve_fds = p.value()?.parse()?,
        "no-pivot" => flags.no_pivot = true,
        "no-new-keyring" => flags.no_new_keyring = true,
        "detach" => flags.detach = true,
        "all" => flags.all = true,
        "force" => flags.force = true,
        "process" => flags.process = Some(p.value()?.into()),
        "tty" => flags.tty = true,
        "cwd" => flags.cwd = Some(p.value()?.into()),
        "env" => flags.env.push(p.value()?.string()?),
        "user" => flags.user = Some(p.value()?.string()?),
        "apparmor" => flags.apparmor = Some(p.value()?.string()?),
        "process-label" => flags.process_label = Some(p.value()?.string()?),
        "resources" => flags.resources = Some(p.value()?.into()),
        "format" => flags.format = Some(p.value()?.string()?),
        "rootless" => flags.rootless = true,
        "quiet" => flags.quiet = true,
        _ => {}
    }
    Ok(())
}

fn help(root: PathBuf, log: Option<PathBuf>, log_format: LogFormat) -> Cli {
    Cli {
        root,
        log,
        log_format,
        systemd_cgroup: false,
        cmd: Cmd::Help(USAGE),
    }
}

/// `exec`'s command: needs a COMMAND or `--process`.
fn exec_command(f: Flags, id: String, command: Vec<String>) -> Result<Cmd, lexopt::Error> {
    if f.process.is_none() && command.is_empty() {
        return Err("exec: give a COMMAND or --process".into());
    }
    Ok(Cmd::Exec(ExecArgs {
        process: f.process,
        tty: f.tty,
        console_socket: f.console_socket,
        detach: f.detach,
        pid_file: f.pid_file,
        preserve_fds: f.preserve_fds,
        cwd: f.cwd,
        env: f.env,
        user: f.user,
        apparmor: f.apparmor,
        process_label: f.process_label,
        id,
        command,
    }))
}

/// Builds the verb from its flags and operands, checking their number.
fn command_of(
    verb: &str,
    f: Flags,
    operands: Vec<String>,
    command: Vec<String>,
) -> Result<Cmd, lexopt::Error> {
    let mut operands = operands.into_iter();
    let mut id = || {
        operands
            .next()
            .ok_or_else(|| lexopt::Error::from(format!("{verb}: the container id is missing")))
    };
    let create = |f: &Flags, id: String| CreateArgs {
        bundle: f.bundle.clone().unwrap_or_else(|| PathBuf::from(".")),
        pid_file: f.pid_file.clone(),
        console_socket: f.console_socket.clone(),
        preserve_fds: f.preserve_fds,
        no_pivot: f.no_pivot,
        no_new_keyring: f.no_new_keyring,
        id,
    };
    let cmd = match verb {
        "create" => Cmd::Create(create(&f, id()?)),
        "run" => Cmd::Run {
            create: create(&f, id()?),
            detach: f.detach,
        },
        "start" => Cmd::Start { id: id()? },
        "pause" => Cmd::Pause { id: id()? },
        "resume" => Cmd::Resume { id: id()? },
        "state" => Cmd::State { id: id()? },
        "kill" => Cmd::Kill {
            all: f.all,
            id: id()?,
            signal: operands.next().unwrap_or_else(|| "TERM".into()),
        },
        "delete" => Cmd::Delete {
            force: f.force,
            id: id()?,
        },
        "exec" => exec_command(f, id()?, command)?,
        "update" => Cmd::Update {
            resources: f.resources.ok_or_else(|| {
                lexopt::Error::from("update: --resources FILE (or -) is required")
            })?,
            id: id()?,
        },
        "ps" => Cmd::Ps {
            format: f.format.unwrap_or_else(|| "table".into()),
            id: id()?,
        },
        "list" => Cmd::List {
            quiet: f.quiet,
            format: f.format.unwrap_or_else(|| "table".into()),
        },
        "features" => Cmd::Features,
        "spec" => Cmd::Spec {
            bundle: f.bundle.unwrap_or_else(|| PathBuf::from(".")),
            rootless: f.rootless,
        },
        other => return Err(format!("unknown command {other:?} (see --help)").into()),
    };
    if let Some(extra) = operands.next() {
        return Err(format!("{verb}: unexpected argument {extra:?}").into());
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globals_go_before_or_after_the_verb() {
        let cli = parse_args(["--root", "/r", "create", "--bundle", "/b", "--log=/l", "c1"])
            .expect("parses");
        assert_eq!(cli.root, PathBuf::from("/r"));
        assert_eq!(cli.log, Some(PathBuf::from("/l")));
        let Cmd::Create(c) = cli.cmd else {
            panic!("not create")
        };
        assert_eq!((c.bundle, c.id), (PathBuf::from("/b"), "c1".to_string()));
    }

    #[test]
    fn create_and_run_take_no_new_keyring() {
        let Cmd::Create(c) = parse_args(["create", "--no-new-keyring", "c1"])
            .unwrap()
            .cmd
        else {
            panic!("not create")
        };
        assert!(c.no_new_keyring);
        let Cmd::Run { create, .. } = parse_args(["run", "c1"]).unwrap().cmd else {
            panic!("not run")
        };
        assert!(!create.no_new_keyring);
        let err = parse_args(["exec", "--no-new-keyring", "c1", "true"])
            .err()
            .unwrap();
        assert!(err.to_string().contains("exec does not take"), "{err}");
    }

    #[test]
    fn exec_takes_everything_after_the_id_as_the_command() {
        let cli =
            parse_args(["exec", "-t", "--env", "A=1", "c1", "sh", "-c", "ls -l"]).expect("parses");
        let Cmd::Exec(e) = cli.cmd else {
            panic!("not exec")
        };
        assert!(e.tty);
        assert_eq!(e.env, ["A=1"]);
        assert_eq!(e.command, ["sh", "-c", "ls -l"]);
    }

    #[test]
    fn exec_takes_runcs_apparmor_and_process_label_flags() {
        let cli = parse_args([
            "exec",
            "--apparmor",
            "p1",
            "--process-label",
            "l1",
            "c1",
            "true",
        ])
        .expect("parses");
        let Cmd::Exec(e) = cli.cmd else {
            panic!("not exec")
        };
        assert_eq!(e.apparmor.as_deref(), Some("p1"));
        assert_eq!(e.process_label.as_deref(), Some("l1"));
        assert!(parse_args(["kill", "--apparmor", "p1", "c1"]).is_err());
    }

    #[test]
    fn kill_signal_defaults_to_term_and_flags_may_follow_the_id() {
        let Cmd::Kill { all, id, signal } = parse_args(["kill", "c1", "--all"]).unwrap().cmd else {
            panic!("not kill")
        };
        assert!(all);
        assert_eq!((id.as_str(), signal.as_str()), ("c1", "TERM"));
    }

    #[test]
    fn a_flag_of_another_verb_is_refused_by_name() {
        let err = parse_args(["start", "--bundle", "/b", "c1"]).err().unwrap();
        assert!(
            err.to_string().contains("start does not take --bundle"),
            "{err}"
        );
        let err = parse_args(["delete"]).err().unwrap();
        assert!(err.to_string().contains("container id is missing"), "{err}");
        let err = parse_args(["frobnicate", "c1"]).err().unwrap();
        assert!(err.to_string().contains("unknown command"), "{err}");
    }

    #[test]
    fn ps_and_list_share_format_while_delete_keeps_force() {
        let Cmd::Ps { format, .. } = parse_args(["ps", "-f", "json", "c1"]).unwrap().cmd else {
            panic!("not ps")
        };
        assert_eq!(format, "json");
        let Cmd::Delete { force, .. } = parse_args(["delete", "-f", "c1"]).unwrap().cmd else {
            panic!("not delete")
        };
        assert!(force);
    }
}
